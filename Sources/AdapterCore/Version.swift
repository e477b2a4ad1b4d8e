/// adapterd's version, shared by the daemon, the CLI and the protocol handshake.
public enum AdapterdVersion {
    public static let string = "0.1.0"
}
