#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One read-only memory mapping of a whole file: the weight arena. Tensors are views into it;
/// nothing is copied. The mapping lives as long as this object.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    /// Device and inode, size and mtime of the mapped file (keys for caches built from it).
    public let size: Int
    public let modificationTime: Int
    /// Whether `bytes` is a heap copy (freed on deinit) rather than a mapping (unmapped).
    let ownsCopy: Bool
    /// The SIGBUS guard's slot for this mapping (-1: not guarded).
    private var guardSlot: Int32 = -1

    /// - Parameter readAhead: false maps the file without asking the kernel to read it ahead, so
    ///   its pages are read only when touched (a vision projector that may never be used).
    ///
    /// Anything but a regular file (a FIFO, a device, a directory) is refused before it is opened,
    /// and the open itself never waits (O_NONBLOCK), so a path swapped for a FIFO cannot hang it.
    /// The mapping keeps the file's data as it was opened even when the path is later replaced
    /// by a rename; a file truncated in place while mapped is reported by the SIGBUS guard (see
    /// `MappingGuard`): one line on stderr and exit status 74, instead of a crash.
    public init(path: String, readAhead: Bool = true) throws {
        ownsCopy = false
        self.path = path
        var before = stat()
        guard stat(path, &before) == 0 else {
            throw GGUFError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        guard (before.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError(.io, file: path, "not a regular file (\(Self.kind(before.st_mode))); give the path of a file")
        }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw GGUFError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw GGUFError(.io, file: path, "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError(.io, file: path, "not a regular file (\(Self.kind(st.st_mode))); give the path of a file")
        }
        size = Int(st.st_size)
        modificationTime = Int(st.st_mtim.tv_sec)
        guard size > 0 else {
            throw GGUFError(.truncated, file: path, offset: 0, "file is empty")
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw GGUFError(.io, file: path, "cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        // Weights are read front to back on every token: ask the kernel to read ahead.
        // Otherwise a fault reads only its own page, not the pages around it.
        _ = madvise(base, size, readAhead ? MADV_WILLNEED : MADV_RANDOM)
        bytes = UnsafeRawBufferPointer(start: base, count: size)
        guardSlot = MappingGuard.add(base, size: size, path: path)
    }

    /// What a file mode names, for the message refusing it.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: return "a FIFO"
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "not a regular file"
        }
    }

    /// A copy of bytes already in memory, read exactly as a mapped file of the same contents
    /// would be (the fuzzers and tests use it; nothing touches the disk). `name` stands in for
    /// the path in error messages.
    public init(copying source: UnsafeRawBufferPointer, name: String) throws {
        path = name
        size = source.count
        modificationTime = 0
        ownsCopy = true
        guard size > 0 else {
            throw GGUFError(.truncated, file: name, offset: 0, "file is empty")
        }
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        copy.copyMemory(from: source)
        bytes = UnsafeRawBufferPointer(copy)
    }

    deinit {
        if ownsCopy {
            bytes.deallocate()
        } else {
            MappingGuard.remove(guardSlot)
            munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        }
    }
}
