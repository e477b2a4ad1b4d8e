// Tests of AdapterStore live in this target; see the other files.
import Testing
