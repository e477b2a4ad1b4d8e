/// One linear map of a base model, y = W x + b, with W as PyTorch's `Linear` stores it (out × in), that
/// a LoRA adapter may adapt: with factors bound to its name, y = W x + b + s · B (A x).
struct AdaptableLinear: Sendable {
    /// The module path adapters name it by, e.g. `model.layers.0.self_attn.q_proj`.
    let name: String
    let inputs: Int
    let outputs: Int
    /// outputs × inputs, for products in the model's precision.
    let weight: LinearWeight
    let bias: [Float]?

    /// Loads `<tensor>.weight` (and `<tensor>.bias` when `bias`) with their shapes checked; `name` is
    /// what adapters call the map.
    init(_ weights: BaseModelWeights, name: String, tensor: String, inputs: Int, outputs: Int,
         bias: Bool, precision: RuntimePrecision) throws(ModelRuntimeError) {
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        weight = LinearWeight(try weights.floats(tensor + ".weight", shape: [outputs, inputs]), outputs: outputs,
                              inputs: inputs, precision: precision)
        self.bias = bias ? try weights.floats(tensor + ".bias", shape: [outputs]) : nil
    }

    var shape: AdapterBinding.Shape { AdapterBinding.Shape(inputs: inputs, outputs: outputs) }

    /// y (rows × outputs) = x (rows × inputs) · Wᵀ + b, plus the bound adapter's update if any; x is
    /// shown to `observer` first.
    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, adapter: AdapterBinding,
               observer: (any LinearInputObserver)? = nil) {
        observer?.observe(module: name, inputs: x, rows: rows, width: inputs)
        weight.apply(x, rows: rows, bias: bias, into: y, rowStride: outputs)
        adapter[name]?.addUpdate(x, rows: rows, into: y, outputStride: outputs)
    }
}
