// The Vision module; see Package.swift for its place in the design.
