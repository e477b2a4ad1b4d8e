// Tests of EndToEnd live in this target; see the other files.
import Testing
