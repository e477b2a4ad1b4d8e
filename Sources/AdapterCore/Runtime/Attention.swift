import COpenBLAS

/// Scaled dot-product multi-head attention over a packed batch: each token attends to the tokens of
/// its own sequence (all of them, or with `causal` those up to itself), with grouped-query sharing
/// (query head h reads key/value head h / (heads / keyValueHeads)).
///
/// Rows are tokens; q, k, v and the context are read and written with their own row strides, head h
/// occupying columns h·d ..< (h+1)·d. Each (sequence, head) costs two sgemm calls and a softmax.
struct Attention: Sendable {
    let heads: Int
    let keyValueHeads: Int
    let headSize: Int
    let causal: Bool

    func context(query q: UnsafePointer<Float>, queryStride: Int,
                 key k: UnsafePointer<Float>, keyStride: Int,
                 value v: UnsafePointer<Float>, valueStride: Int,
                 batch: PackedBatch, into context: UnsafeMutablePointer<Float>, contextStride: Int) {
        guard batch.longest > 0 else { return }
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: batch.longest * batch.longest)
        defer { scores.deallocate() }
        let d = headSize
        let scale = 1 / Float(d).squareRoot()
        let group = heads / keyValueHeads
        for s in 0..<batch.count {
            let n = batch.lengths[s]
            let first = batch.offsets[s]
            let n32 = Int32(n)
            for head in 0..<heads {
                let kvHead = head / group
                let qh = q + first * queryStride + head * d
                let kh = k + first * keyStride + kvHead * d
                let vh = v + first * valueStride + kvHead * d
                // scores = q·kᵀ/√d over this sequence's tokens only (the padding mask, in effect).
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n32, n32, Int32(d),
                            scale, qh, Int32(queryStride), kh, Int32(keyStride), 0, scores, n32)
                if causal {
                    FloatKernels.causalSoftmaxRows(scores, size: n)
                } else {
                    FloatKernels.softmaxRows(scores, rows: n, width: n)
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n32, Int32(d), n32,
                            1, scores, n32, vh, Int32(valueStride), 0,
                            context + first * contextStride + head * d, Int32(contextStride))
            }
        }
    }
}
