import Foundation

/// The grammar structures one model keeps across generations: its vocabulary as bytes (built on
/// first use, once per model) and the mask caches of the grammars used most recently, keyed by
/// the grammar's text (a dictionary key: its hash, then the text itself, so two grammars never
/// share a cache by collision). A second request with the same schema finds the token classes
/// the first one computed and pays no warm-up. Bounded: at most `capacity` grammars, the least
/// recently used dropped first, and each grammar's cache holds at most `cacheBytesPerGrammar`
/// (past it, masks are computed uncached: see `TokenMaskCache`).
public final class GrammarStore: @unchecked Sendable {
    /// Grammars kept at most.
    public let capacity: Int
    public let limits: GrammarLimits
    /// Most bytes one grammar's cached token classes may take.
    public let cacheBytesPerGrammar: Int
    private let makeVocabulary: () -> TokenVocabulary
    private var built: TokenVocabulary?
    private var caches: [String: TokenMaskCache] = [:]
    /// Grammar texts, least recently used first.
    private var order: [String] = []
    private var counts = Statistics()
    private let lock = NSLock()

    /// What the store did so far and what it holds.
    public struct Statistics: Sendable, Equatable {
        /// Requests that found their grammar's cache, and those that compiled a new one.
        public var hits = 0, misses = 0
        /// Caches dropped to stay within the capacity.
        public var evictions = 0
        /// Grammars held now.
        public var grammars = 0
        /// Bytes of the vocabulary (0 until built) and of the cached token classes.
        public var vocabularyBytes = 0, cacheBytes = 0
        /// Grammars held whose cache reached its byte cap, and the classes they computed uncached.
        public var cappedGrammars = 0, uncachedClasses = 0
    }

    /// - Parameters:
    ///   - capacity: grammars kept (at least 1).
    ///   - cacheBytesPerGrammar: the byte cap of each grammar's cache.
    ///   - vocabulary: builds the model's vocabulary as bytes; called once, at the first grammar.
    public init(capacity: Int = 8, limits: GrammarLimits = GrammarLimits(),
                cacheBytesPerGrammar: Int = TokenMaskCache.defaultByteCap, vocabulary: @escaping () -> TokenVocabulary) {
        self.capacity = max(1, capacity)
        self.limits = limits
        self.cacheBytesPerGrammar = cacheBytesPerGrammar
        makeVocabulary = vocabulary
    }

    /// The model's vocabulary as bytes (built at the first call).
    public var vocabulary: TokenVocabulary {
        lock.withLock {
            if let built { return built }
            let v = makeVocabulary()
            built = v
            return v
        }
    }

    /// The mask cache of `gbnf`: the one kept from an earlier request, or a newly compiled one
    /// (which may push out the least recently used). Throws `GrammarError` for a bad grammar.
    public func maskCache(gbnf: String) throws -> TokenMaskCache {
        if let cache = lock.withLock({ () -> TokenMaskCache? in
            guard let c = caches[gbnf] else { return nil }
            counts.hits += 1
            touch(gbnf)
            return c
        }) {
            return cache
        }
        let grammar = try Grammar(gbnf: gbnf, limits: limits)
        let cache = TokenMaskCache(grammar: grammar, vocabulary: vocabulary, byteCap: cacheBytesPerGrammar)
        return lock.withLock {
            // Another request may have compiled the same grammar meanwhile: keep the first.
            if let c = caches[gbnf] {
                counts.hits += 1
                touch(gbnf)
                return c
            }
            counts.misses += 1
            caches[gbnf] = cache
            order.append(gbnf)
            while order.count > capacity {
                caches[order.removeFirst()] = nil
                counts.evictions += 1
            }
            return cache
        }
    }

    /// A fresh constraint for one generation with `gbnf`, over the shared cache.
    public func constraint(gbnf: String) throws -> GrammarConstraint {
        GrammarConstraint(cache: try maskCache(gbnf: gbnf))
    }

    /// Counts and memory now (walks the cached classes: for reports, not for every token).
    public var statistics: Statistics {
        let (held, v) = lock.withLock { (Array(caches.values), built) }
        var s = lock.withLock { counts }
        s.grammars = held.count
        s.vocabularyBytes = v?.memoryBytes ?? 0
        s.cacheBytes = held.reduce(0) { $0 + $1.memoryBytes }
        s.uncachedClasses = held.reduce(0) { $0 + $1.uncachedClasses }
        s.cappedGrammars = held.filter { $0.uncachedClasses > 0 }.count
        return s
    }

    /// Moves `key` to the most recently used end (called with the lock held).
    private func touch(_ key: String) {
        if let i = order.firstIndex(of: key), i != order.count - 1 {
            order.remove(at: i)
            order.append(key)
        }
    }
}
