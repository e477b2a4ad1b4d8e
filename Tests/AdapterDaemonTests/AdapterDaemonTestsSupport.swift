// Tests of AdapterDaemon live in this target; see the other files.
import Testing
