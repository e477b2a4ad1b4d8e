/// Sees the input of every adaptable linear map of a model during one forward pass: the hook that
/// data-aware clustering records a task's activations with (`TaskInputSketcher`). Passed per call,
/// like an adapter; a forward pass without one does no extra work beyond a nil check per linear map.
///
/// `observe` is called synchronously, in the order the model applies its linear maps, before the
/// map's output is computed; `inputs` (rows × width, row-major, `width` = the map's input features) is
/// valid only during the call. Maps that read one buffer (q, k and v; gate and up) are observed one
/// after another with the same pointer and contents.
public protocol LinearInputObserver: AnyObject {
    func observe(module: String, inputs: UnsafePointer<Float>, rows: Int, width: Int)
}
