/// Linear maps of a base model that read one input (BERT's query, key and value), applied as one
/// matrix product: y = x · [W₁; W₂; …]ᵀ + [b₁ b₂ …] (rows × Σ outputs, the members' outputs side by
/// side), then each bound adapter module's s · B (A x) added into its member's columns. One product
/// packs x once where one per member packed it for each.
struct AdaptableLinearGroup: Sendable {
    /// The members' names (as `AdaptableLinear.name`), input width and output widths, in column order.
    let names: [String]
    let inputs: Int
    let outputs: [Int]
    /// Σ outputs × inputs: the members' weights one after another.
    private let weight: LinearWeight
    private let bias: [Float]?

    /// The members' first output column.
    let offsets: [Int]
    var width: Int { outputs.reduce(0, +) }

    /// Takes over the members' weights, loaded for `float32` products, for products in `precision` (they
    /// must share the input width, and all have a bias or none).
    init(_ members: [AdaptableLinear], precision: RuntimePrecision) {
        precondition(!members.isEmpty && members.allSatisfy { $0.inputs == members[0].inputs && $0.weight.float32Values != nil }
                     && members.allSatisfy { ($0.bias == nil) == (members[0].bias == nil) })
        names = members.map(\.name)
        inputs = members[0].inputs
        outputs = members.map(\.outputs)
        weight = LinearWeight(members.flatMap { $0.weight.float32Values! }, outputs: outputs.reduce(0, +),
                              inputs: inputs, precision: precision)
        bias = members[0].bias == nil ? nil : members.flatMap { $0.bias! }
        var offsets: [Int] = []
        var column = 0
        for member in members {
            offsets.append(column)
            column += member.outputs
        }
        self.offsets = offsets
    }

    /// y (rows × `width`) = the members' outputs for x (rows × `inputs`) with the bound modules' updates;
    /// x is shown to `observer` once per member first.
    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, adapter: AdapterBinding,
               observer: (any LinearInputObserver)? = nil) {
        show(x, rows: rows, to: observer)
        weight.apply(x, rows: rows, bias: bias, into: y, rowStride: width)
        addUpdates(x, rows: rows, into: y, adapter: adapter)
    }

    /// x shown to `observer` as the input of each member, in order.
    func show(_ x: UnsafePointer<Float>, rows: Int, to observer: (any LinearInputObserver)?) {
        guard let observer else { return }
        for name in names { observer.observe(module: name, inputs: x, rows: rows, width: inputs) }
    }

    /// y (rows × `width`) += each bound module's update of x, in its member's columns: what `apply`
    /// adds to the maps' own outputs, for a y that already holds them.
    func addUpdates(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, adapter: AdapterBinding) {
        for (name, offset) in zip(names, offsets) {
            adapter[name]?.addUpdate(x, rows: rows, into: y + offset, outputStride: width)
        }
    }
}
