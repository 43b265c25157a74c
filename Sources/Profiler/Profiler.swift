// The Profiler module; see Package.swift for its place in the design.
