import COpenBLAS
import Foundation

/// The `LinearInputObserver` behind `TaskInputSketcher`: collects, over one or more forward passes,
/// the inputs X of the linear maps it is asked about, one copy per input space.
///
/// Linear maps that read one buffer (q, k, v; gate, up) are observed one after another with the
/// same pointer and contents; a map whose input equals the previous observation byte for byte joins
/// that observation's space, so its X is stored and decomposed once — also a map not asked for,
/// which costs nothing and lets a merge that adapts it (k beside an adapter's q and v) be scored. A space keeps its rows
/// (tokens × width, Float) while it has at most `width` of them, and from then on only its Gram
/// matrix XᵀX (width², Double, one dsyrk per pass): memory stays bounded for any number of examples.
final class LinearInputRecorder: LinearInputObserver {
    struct Space {
        var modules: [String]
        let width: Int
        var rows = 0
        /// Row blocks while `gram` is nil.
        var blocks: [[Float]] = []
        var gram: Matrix?
        var totalEnergy = 0.0
        /// The block of the current pass (to check and share with maps reading the same input).
        var current: [Float] = []
        var passes = 0
    }

    private(set) var spaces: [Space] = []
    private var spaceOf: [String: Int] = [:]
    private let wanted: Set<String>?
    private var pass = 0
    private var previous: (pointer: UnsafePointer<Float>, rows: Int, width: Int, space: Int)?
    /// Set when a pass broke the layout of the first (a map seen twice with different inputs).
    private(set) var inconsistency: String?

    /// `modules`: the linear maps to record (nil: all).
    init(modules: Set<String>?) {
        wanted = modules
    }

    /// Starts the next forward pass.
    func beginPass() {
        pass += 1
        previous = nil
    }

    /// The number of passes begun.
    var passCount: Int { pass }

    func observe(module: String, inputs: UnsafePointer<Float>, rows: Int, width: Int) {
        let count = rows * width
        if let wanted, !wanted.contains(module), spaceOf[module] == nil {
            // Not asked for, but reading the input a recorded map just read (k beside q and v): it
            // shares that space at no cost, so a merge that adapts it can still be scored.
            if let p = previous, p.pointer == inputs, p.rows == rows, p.width == width, pass == 1,
               spaces[p.space].passes == pass, Self.equal(spaces[p.space].current, inputs, count) {
                spaces[p.space].modules.append(module)
                spaceOf[module] = p.space
            }
            return
        }
        if let s = spaceOf[module] {
            if spaces[s].passes == pass {
                // A sibling map already brought this pass's block: it must be the same input.
                if !Self.equal(spaces[s].current, inputs, count) {
                    inconsistency = "linear map '\(module)' read an input different from '\(spaces[s].modules[0])''s in pass \(pass)"
                }
            } else {
                append(UnsafeBufferPointer(start: inputs, count: count), rows: rows, to: s)
            }
            previous = (inputs, rows, width, s)
            return
        }
        if let p = previous, p.pointer == inputs, p.rows == rows, p.width == width, pass == 1,
           spaces[p.space].passes == pass, Self.equal(spaces[p.space].current, inputs, count) {
            spaces[p.space].modules.append(module)
            spaceOf[module] = p.space
            return
        }
        guard pass == 1 else {
            inconsistency = "linear map '\(module)' was first observed in pass \(pass)"
            return
        }
        spaces.append(Space(modules: [module], width: width))
        spaceOf[module] = spaces.count - 1
        append(UnsafeBufferPointer(start: inputs, count: count), rows: rows, to: spaces.count - 1)
        previous = (inputs, rows, width, spaces.count - 1)
    }

    private func append(_ block: UnsafeBufferPointer<Float>, rows: Int, to s: Int) {
        let copy = Array(block)
        var energy = 0.0
        for x in copy { energy += Double(x) * Double(x) }
        spaces[s].totalEnergy += energy
        spaces[s].current = copy
        spaces[s].passes = pass
        spaces[s].rows += rows
        let width = spaces[s].width
        if spaces[s].gram == nil, spaces[s].rows > width {
            // Fold the stored rows into the Gram matrix from now on.
            var gram = Matrix(zeros: width, width)
            for stored in spaces[s].blocks { Self.addGram(of: stored, width: width, to: &gram) }
            spaces[s].blocks = []
            spaces[s].gram = gram
        }
        if spaces[s].gram != nil {
            Self.addGram(of: copy, width: width, to: &spaces[s].gram!)
        } else {
            spaces[s].blocks.append(copy)
        }
    }

    /// g += XᵀX for a row-major block X (rows × width) of Floats, in Double (dsyrk, upper triangle,
    /// then mirrored).
    static func addGram(of block: [Float], width: Int, to g: inout Matrix) {
        let rows = block.count / width
        guard rows > 0 else { return }
        let x = block.map(Double.init)
        var upper = Matrix(zeros: width, width)
        x.withUnsafeBufferPointer { xp in
            upper.elements.withUnsafeMutableBufferPointer { cp in
                // Row-major X (rows × width) is column-major Xᵀ (width × rows, ld width): C = Xᵀ·X.
                cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, Int32(width), Int32(rows), 1,
                            xp.baseAddress, Int32(width), 0, cp.baseAddress, Int32(width))
            }
        }
        for j in 0..<width {
            for i in 0...j {
                let value = upper.elements[i + j * width]
                g.elements[i * width + j] += value
                if i != j { g.elements[j * width + i] += value }
            }
        }
    }

    private static func equal(_ stored: [Float], _ pointer: UnsafePointer<Float>, _ count: Int) -> Bool {
        guard stored.count == count else { return false }
        return stored.withUnsafeBufferPointer { s in
            guard let base = s.baseAddress else { return count == 0 }
            return memcmp(base, pointer, count * MemoryLayout<Float>.size) == 0
        }
    }
}
