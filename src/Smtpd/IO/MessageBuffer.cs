using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Smtpd.IO;

/// <summary>
/// Holds one message's content: in pooled memory up to a threshold, then in a temporary file. The memory block
/// never grows past the threshold; once the content spills, that same block becomes the file's write buffer, so
/// a session holds at most one threshold of content in memory whatever the message size.
/// </summary>
/// <remarks>
/// Writes past <see cref="MaxLength"/> are counted but discarded (RFC 5321 4.5.3.1.10 and aiosmtpd's
/// <c>smtp_DATA</c>): the session reads to the end of data and then answers 552, without storing the excess.
/// </remarks>
internal sealed class MessageBuffer : IDisposable
{
    private const int InitialBlockSize = 4096;

    private readonly int _memoryThreshold;
    private readonly string _spoolDirectory;
    private byte[]? _block;
    private int _blockUsed;
    private SafeFileHandle? _file;
    private FileStream? _spool;
    private long _fileLength;
    private bool _completed;

    public MessageBuffer(int memoryThreshold, long maxLength, string? spoolDirectory)
    {
        _memoryThreshold = memoryThreshold;
        MaxLength = maxLength;
        _spoolDirectory = spoolDirectory ?? Path.GetTempPath();
    }

    /// <summary>The most octets stored; more are counted in <see cref="ReceivedLength"/> and dropped.</summary>
    public long MaxLength { get; set; }

    /// <summary>The octets stored.</summary>
    public long Length => _fileLength + _blockUsed;

    /// <summary>The octets written, stored or not.</summary>
    public long ReceivedLength { get; private set; }

    /// <summary>Whether more was written than <see cref="MaxLength"/> allows.</summary>
    public bool Overflowed => ReceivedLength > MaxLength;

    /// <summary>
    /// Whether octets are only counted and never stored: a server with no delivery callback is a sink (as Postfix's
    /// smtp-sink), and copying content that nobody will read into memory or a temporary file would be wasted work.
    /// The size limit still applies through <see cref="Overflowed"/>.
    /// </summary>
    public bool CountOnly { get; set; }

    /// <summary>Whether the content went to a temporary file.</summary>
    public bool IsSpooled => _file is not null;

    /// <summary>Appends content, dropping whatever goes past <see cref="MaxLength"/>.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        var room = MaxLength - ReceivedLength;
        ReceivedLength += data.Length;
        if (room <= 0 || CountOnly)
        {
            return;
        }

        if (data.Length > room)
        {
            data = data[..(int)room];
        }

        while (!data.IsEmpty)
        {
            var block = EnsureBlockSpace(data.Length);
            var count = Math.Min(BlockCapacity - _blockUsed, data.Length);
            data[..count].CopyTo(block.AsSpan(_blockUsed));
            _blockUsed += count;
            data = data[count..];
        }
    }

    /// <summary>Ends writing; the content can then be read with <see cref="OpenRead(int)"/>.</summary>
    public void Complete()
    {
        if (_file is not null && _blockUsed > 0)
        {
            FlushBlockToFile();
        }

        _completed = true;
    }

    /// <summary>Which transaction's content the buffer holds; readers of an earlier one are refused.</summary>
    public int Generation { get; private set; }

    /// <summary>Opens an independent read-only stream over the completed content of <paramref name="generation"/>.</summary>
    /// <exception cref="ObjectDisposedException">The content of that generation has been released.</exception>
    /// <exception cref="InvalidOperationException">The content is still being received.</exception>
    public Stream OpenRead(int generation)
    {
        ObjectDisposedException.ThrowIf(generation != Generation, this);
        if (!_completed)
        {
            throw new InvalidOperationException("The content is still being received.");
        }

        return new ContentStream(this, generation);
    }

    /// <summary>Opens a stream over the current content.</summary>
    public Stream OpenRead() => OpenRead(Generation);

    /// <summary>Drops the content and returns the memory and file, ready for the next transaction.</summary>
    /// <remarks>Streams opened before are invalidated: they throw instead of reading memory now lent to someone else.</remarks>
    public void Reset()
    {
        Generation++;
        if (_block is not null)
        {
            ArrayPool<byte>.Shared.Return(_block);
            _block = null;
        }

        _spool?.Dispose();
        _spool = null;
        _file = null;
        _blockUsed = 0;
        _fileLength = 0;
        ReceivedLength = 0;
        _completed = false;
    }

    public void Dispose() => Reset();

    /// <summary>The usable part of the block: the pool may hand out a larger array than asked, but the threshold holds.</summary>
    private int BlockCapacity => Math.Min(_block!.Length, _memoryThreshold);

    private byte[] EnsureBlockSpace(int wanted)
    {
        if (_block is null)
        {
            _block = ArrayPool<byte>.Shared.Rent(Math.Min(_memoryThreshold, Math.Max(InitialBlockSize, wanted)));
            return _block;
        }

        if (_blockUsed < BlockCapacity)
        {
            return _block;
        }

        if (BlockCapacity < _memoryThreshold)
        {
            // Grow in memory, doubling, up to the threshold.
            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(_memoryThreshold, _block.Length * 2));
            _block.AsSpan(0, _blockUsed).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_block);
            _block = larger;
            return _block;
        }

        // The block is full at the threshold: from now on it is the file's write buffer.
        FlushBlockToFile();
        return _block;
    }

    private void FlushBlockToFile()
    {
        if (_file is null)
        {
            // Readable and writable by the server's user only: message content must not be readable by other local
            // users through a shared temporary directory.
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                Options = FileOptions.DeleteOnClose,
                BufferSize = 0,
            };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            _spool = new FileStream(Path.Combine(_spoolDirectory, $"smtpd-{Guid.NewGuid():N}.eml.tmp"), options);
            _file = _spool.SafeFileHandle;
        }

        RandomAccess.Write(_file, _block.AsSpan(0, _blockUsed), _fileLength);
        _fileLength += _blockUsed;
        _blockUsed = 0;
    }

    /// <summary>Reads <paramref name="destination"/>.Length octets at most from <paramref name="offset"/>, for a reader of <paramref name="generation"/>.</summary>
    private int ReadAt(int generation, long offset, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(generation != Generation, this);
        var remaining = Length - offset;
        if (remaining <= 0)
        {
            return 0;
        }

        if (destination.Length > remaining)
        {
            destination = destination[..(int)remaining];
        }

        if (_file is not null)
        {
            return RandomAccess.Read(_file, destination, offset);
        }

        _block.AsSpan((int)offset, destination.Length).CopyTo(destination);
        return destination.Length;
    }

    /// <summary>A read-only, seekable view of the content; each reader keeps its own position and dies with its generation.</summary>
    private sealed class ContentStream(MessageBuffer owner, int generation) : Stream
    {
        private readonly long _length = owner.Length;
        private long _position;

        public override bool CanRead => owner.Generation == generation;

        public override bool CanSeek => owner.Generation == generation;

        public override bool CanWrite => false;

        public override long Length => _length;

        public override long Position
        {
            get => _position;
            set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var read = owner.ReadAt(generation, _position, buffer);
            _position += read;
            return read;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<int>(cancellationToken) : new(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException("The message content is read-only.");

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("The message content is read-only.");
    }
}
