// Tests of AdapterProtocol live in this target; see the other files.
import Testing
