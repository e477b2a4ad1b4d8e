import Foundation

/// Checks a safetensors file while read(2) brings it in (`RegularFile.read(_:maximumBytes:chunkBytes:observe:)`):
/// once the header has arrived it is validated against the size fstat gave, and each floating-point
/// tensor's bytes are scanned for NaN/∞ chunk by chunk, while they are still in the cache, so that
/// `SafeTensorsFile(data:scan:)` takes no second pass over them. If anything differs from what was
/// validated (the header is invalid, the file changed size while read), the scan gives up and the
/// file is validated as a whole afterwards, with the same errors as any other buffer.
public final class SafeTensorsReadScan {
    /// The validated header (nil until it has arrived, or when it was invalid).
    private(set) var header: SafeTensorsFile.Header?
    /// Per tensor in the header's order: whether a NaN or ∞ was seen in it.
    public private(set) var special: [Bool] = []
    private var sizeFromFstat = -1
    private var gaveUp = false
    /// The tensor being scanned, and the file offset up to which its bytes have been.
    private var nextTensor = 0
    private var scannedTo = 0

    public init() {}

    /// A good chunk for `RegularFile.read`: small enough to be scanned from the cache.
    public static let chunkBytes = 256 * 1024

    /// To pass as `observe`: `bytes` is the file so far, its last `added` bytes just read.
    public func consume(sizeFromFstat: Int, _ bytes: UnsafeRawBufferPointer, _ added: Range<Int>) {
        guard !gaveUp else { return }
        if header == nil {
            self.sizeFromFstat = sizeFromFstat
            do {
                guard let header = try SafeTensorsFile.header(prefix: bytes, totalCount: sizeFromFstat) else { return }
                self.header = header
                special = Array(repeating: false, count: header.tensors.count)
                scannedTo = 8 + header.headerLength
            } catch {
                gaveUp = true
                return
            }
        }
        scan(bytes)
    }

    /// A scan of bytes already in memory fed `chunkBytes` at a time, as `RegularFile.read` feeds a file
    /// (`sizeFromFstat` as fstat would have said it; their count when nil): what the fuzzer and the
    /// tests hold against the whole-buffer validation.
    public static func scanning(_ data: Data, chunkBytes: Int, sizeFromFstat: Int? = nil) -> SafeTensorsReadScan {
        let scan = SafeTensorsReadScan()
        data.withUnsafeBytes { all in
            var filled = 0
            while filled < all.count {
                let n = min(max(chunkBytes, 1), all.count - filled)
                filled += n
                scan.consume(sizeFromFstat: sizeFromFstat ?? all.count, UnsafeRawBufferPointer(rebasing: all[0..<filled]),
                             (filled - n)..<filled)
            }
        }
        return scan
    }

    /// Whether the whole file was scanned and it is as long as the header was validated for.
    public func completed(count: Int) -> Bool {
        guard let header, !gaveUp else { return false }
        return count == sizeFromFstat && nextTensor == header.tensors.count
    }

    /// Scans the whole elements of the current tensors that have arrived.
    private func scan(_ bytes: UnsafeRawBufferPointer) {
        guard let header, let base = bytes.baseAddress else { return }
        let dataStart = 8 + header.headerLength
        while nextTensor < header.tensors.count {
            let tensor = header.tensors[nextTensor]
            let end = dataStart + tensor.dataOffsets.upperBound
            if let dtype = tensor.dtype.floatingPoint {
                let whole = (min(end, bytes.count) - scannedTo) / dtype.byteSize
                if whole > 0 {
                    if HalfPrecision.containsNonFinite(dtype, at: base + scannedTo, count: whole) { special[nextTensor] = true }
                    scannedTo += whole * dtype.byteSize
                }
            } else if bytes.count >= end {
                scannedTo = end   // not read as floating-point values: the loader refuses it by its dtype
            }
            guard scannedTo >= end else { return }
            nextTensor += 1
        }
    }
}
