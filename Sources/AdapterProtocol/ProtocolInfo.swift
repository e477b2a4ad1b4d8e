/// Version of the adapterd wire protocol (docs/PROTOCOL.md).
public enum ProtocolInfo {
    public static let version = 1
}
