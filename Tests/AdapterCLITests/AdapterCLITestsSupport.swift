// Tests of AdapterCLI live in this target; see the other files.
import Testing
