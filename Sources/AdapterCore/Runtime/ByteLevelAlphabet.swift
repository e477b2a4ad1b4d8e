/// GPT-2's byte-to-character table (`bytes_to_unicode`): byte-level BPE writes every byte of the UTF-8
/// text as one printable character — bytes that are printable Latin-1 (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) as
/// themselves, the other 68 as U+0100 onwards in byte order (so a space is `Ġ`, a newline `Ċ`).
enum ByteLevelAlphabet {
    /// The character of each byte.
    static let characters: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte) {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte a character stands for, nil for characters outside the alphabet.
    static let bytesByCharacter: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, character) in characters.enumerated() { map[character.value] = UInt8(byte) }
        return map
    }()

    /// The bytes a token string of byte-level characters stands for; nil when any character is not
    /// one of the alphabet's (such a token can never be produced from text).
    static func bytes(of token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let byte = bytesByCharacter[scalar.value] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
