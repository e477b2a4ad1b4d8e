import Foundation

/// Parses and prints byte sizes: `1048576`, `64MiB`, `1.5GB`, `512 KiB` (a budget's `unlimited` is `Budget.parse`'s).
///
/// Decimal units (kB/KB, MB, GB, TB) are powers of 1000, binary units (KiB, MiB, GiB, TiB, also K, M, G, T)
/// powers of 1024; `B` or no unit means bytes. Case-insensitive except that `b` alone is bytes.
public enum ByteSize {
    /// The largest size accepted: 1 EiB (2^60 bytes). Far above any disk, and low enough that the
    /// sums and small multiples of sizes the daemon computes (a frame limit from the adapter and
    /// examples limits, base64 lengths) cannot overflow Int64.
    public static let maximum: Int64 = 1 << 60

    /// Parses a size; throws a `ByteSizeError` naming the offending text.
    public static func parse(_ text: String, what: String = "size") throws(ByteSizeError) -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("-"), let next = trimmed.dropFirst().first, next.isNumber || next == "." {
            throw ByteSizeError("\(what) '\(text)' is negative; a size is 0 or more bytes, e.g. 0, 64MiB or 1.5GB")
        }
        var numberEnd = trimmed.startIndex
        while numberEnd < trimmed.endIndex, trimmed[numberEnd].isNumber || trimmed[numberEnd] == "." {
            numberEnd = trimmed.index(after: numberEnd)
        }
        let numberText = String(trimmed[..<numberEnd])
        let unit = trimmed[numberEnd...].trimmingCharacters(in: .whitespaces).lowercased()
        // No sign, letters or exponent get here, so `number` is not NaN; it is +infinity for more than
        // 308 digits, which the maximum below refuses as too large.
        guard !numberText.isEmpty, let number = Double(numberText), number >= 0 else {
            throw ByteSizeError(
                "\(what) '\(text)' is not a size; write e.g. 1048576, 64MiB, 1.5GB or 512KiB")
        }
        let multiplier: Double
        switch unit {
        case "", "b": multiplier = 1
        case "kb": multiplier = 1e3
        case "mb": multiplier = 1e6
        case "gb": multiplier = 1e9
        case "tb": multiplier = 1e12
        case "k", "kib": multiplier = 1024
        case "m", "mib": multiplier = 1024 * 1024
        case "g", "gib": multiplier = 1024 * 1024 * 1024
        case "t", "tib": multiplier = 1024 * 1024 * 1024 * 1024
        default:
            throw ByteSizeError(
                "\(what) '\(text)' has an unknown unit '\(unit)'; use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB")
        }
        let tooLarge = ByteSizeError("\(what) '\(text)' is too large; the largest size is 1 EiB (\(maximum) bytes)")
        if multiplier == 1, !numberText.contains(".") {
            // Whole bytes: exactly, not through a Double (which rounds above 2^53).
            guard let exact = Int64(numberText), exact <= maximum else { throw tooLarge }
            return exact
        }
        let bytes = (number * multiplier).rounded()
        guard bytes <= Double(maximum) else { throw tooLarge }
        if multiplier == 1, number.rounded() != number {
            throw ByteSizeError("\(what) '\(text)' is a fraction of a byte")
        }
        return Int64(bytes)
    }

    /// A readable size with binary units: `512 B`, `1.5 KiB`, `64.0 MiB`.
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while abs(value) >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// `format` with the exact count, for messages that compare sizes: `1.5 MiB (1572864 bytes)`;
    /// below 1 KiB just `512 bytes`.
    public static func formatWithCount(_ bytes: Int64) -> String {
        bytes < 1024 ? "\(bytes) bytes" : "\(format(bytes)) (\(bytes) bytes)"
    }
}

/// A size that could not be parsed; the message quotes it and shows valid forms.
public struct ByteSizeError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
