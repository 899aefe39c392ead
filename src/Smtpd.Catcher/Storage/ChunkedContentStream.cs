using System.Buffers;
using Microsoft.Data.Sqlite;

namespace Smtpd.Catcher.Storage;

/// <summary>
/// A read-only, seekable stream over a stored message's content, loading one chunk at a time, so reading (and
/// MimeKit parsing with <c>persistent: true</c>) holds at most one chunk of the message in memory.
/// </summary>
/// <remarks>
/// Each chunk is read with SQLite's incremental blob I/O (<c>message_chunks.chunk_key</c> is the rowid) into one
/// buffer rented for the stream's life. Reading each as a new array (what <c>ExecuteScalar</c> returns) made 256 KiB of large-object garbage per chunk, the size of the message per download,
/// which only a full collection frees: after a large response had raised the collector's budget, twenty downloads of a
/// 10 MiB message raised the catcher's RSS by 192 MiB, four at a time by 313 MiB (issue 13; docs/performance.md
/// "Catcher API: wait latency, raw download and 1,000,000 messages").
/// </remarks>
internal sealed class ChunkedContentStream : Stream
{
    private readonly SqliteConnection _connection;
    private readonly long _length;
    private readonly long _id;
    private readonly SqliteTransaction? _transaction;
    private readonly IDisposable? _owner;
    private readonly bool _ownsTransaction;
    private long _position;
    private int _loadedSeq = -1;
    private byte[]? _chunk;
    private int _chunkLength;

    /// <summary>Opens the content of message <paramref name="id"/>, which is <paramref name="length"/> octets long.</summary>
    /// <param name="connection">An open connection to the store; it must outlive the stream.</param>
    /// <param name="id">The message id.</param>
    /// <param name="length">The content size.</param>
    /// <param name="transaction">A read transaction to read in (a consistent snapshot), disposed with the stream.</param>
    /// <param name="owner">What owns the connection, disposed with the stream (a stream handed to an HTTP response).</param>
    /// <param name="ownsTransaction">Whether disposing the stream disposes <paramref name="transaction"/>; not when the caller goes on writing in it (the upgrade's backfill).</param>
    public ChunkedContentStream(SqliteConnection connection, long id, long length, SqliteTransaction? transaction = null, IDisposable? owner = null, bool ownsTransaction = true)
    {
        _length = length;
        _transaction = transaction;
        _ownsTransaction = ownsTransaction;
        _owner = owner;
        _connection = connection;
        _id = id;
    }

    /// <inheritdoc/>
    public override bool CanRead => true;

    /// <inheritdoc/>
    public override bool CanSeek => true;

    /// <inheritdoc/>
    public override bool CanWrite => false;

    /// <inheritdoc/>
    public override long Length => _length;

    /// <inheritdoc/>
    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        if (_position >= _length || buffer.IsEmpty)
        {
            return 0;
        }

        var seq = (int)(_position / StoreSchema.ChunkSize);
        if (seq != _loadedSeq)
        {
            LoadChunk(seq);
        }

        var offsetInChunk = (int)(_position - ((long)seq * StoreSchema.ChunkSize));
        var available = _chunkLength - offsetInChunk;
        if (available <= 0)
        {
            throw new InvalidDataException($"Chunk {seq} of the message is shorter than its size says.");
        }

        var n = Math.Min(available, buffer.Length);
        _chunk.AsSpan(offsetInChunk, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    /// <summary>Copies chunk <paramref name="seq"/> into the stream's buffer straight from the database page.</summary>
    private void LoadChunk(int seq)
    {
        SqliteBlob blob;
        try
        {
            // On the stream's connection, so inside its read transaction when it has one (a consistent snapshot).
            blob = new SqliteBlob(_connection, "message_chunks", "data", StoreSchema.ChunkKey(_id, seq), readOnly: true);
        }
        catch (SqliteException ex)
        {
            throw new InvalidDataException($"Chunk {seq} of the message is missing from the store.", ex);
        }

        using (blob)
        {
            // The writer never makes a chunk longer than ChunkSize.
            if (blob.Length > StoreSchema.ChunkSize)
            {
                throw new InvalidDataException($"Chunk {seq} of the message is longer than a chunk can be.");
            }

            _chunk ??= ArrayPool<byte>.Shared.Rent(StoreSchema.ChunkSize);
            _chunkLength = (int)blob.Length;
            blob.ReadExactly(_chunk, 0, _chunkLength);
        }

        _loadedSeq = seq;
    }

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    /// <inheritdoc/>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    /// <inheritdoc/>
    public override void Flush()
    {
    }

    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (_ownsTransaction)
            {
                _transaction?.Dispose();
            }

            _owner?.Dispose();
            if (_chunk is { } chunk)
            {
                _chunk = null;
                ArrayPool<byte>.Shared.Return(chunk);
            }
        }

        base.Dispose(disposing);
    }
}
