import GGUF

extension ModelError {
    /// Throws `nonFinite` when one of the `rows` x `width` activations at `values` is infinite or
    /// NaN; `stage` says where they are ("after layer 3 (blk.3)"). A vectorised scan of the
    /// residual stream, a few microseconds a token; allocates nothing unless it throws.
    @inline(__always)
    static func requireFinite(_ values: UnsafePointer<Float>, rows: Int, width: Int,
                              _ stage: @autoclosure () -> String) throws {
        guard let i = NonFinite.firstIndex(values, count: rows * width) else { return }
        throw ModelError.nonFinite("the activations \(stage()) (token \(i / width) of the batch, element "
                                   + "\(i % width) is \(values[i]))")
    }
}
