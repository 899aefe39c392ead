using Microsoft.Data.Sqlite;

namespace Smtpd.Catcher.Storage;

/// <summary>
/// A read-only, seekable stream over a stored message's content, loading one chunk at a time, so reading (and
/// MimeKit parsing with <c>persistent: true</c>) holds at most one chunk of the message in memory.
/// </summary>
internal sealed class ChunkedContentStream : Stream
{
    private readonly SqliteCommand _select;
    private readonly long _length;
    private readonly long _id;
    private readonly SqliteTransaction? _transaction;
    private readonly IDisposable? _owner;
    private readonly bool _ownsTransaction;
    private long _position;
    private int _loadedSeq = -1;
    private byte[] _chunk = [];

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
        _select = connection.CreateCommand();
        _select.Transaction = transaction;
        _select.CommandText = "SELECT data FROM message_chunks WHERE chunk_key = $key";
        _select.Parameters.Add(new SqliteParameter("$key", 0L));
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
            _select.Parameters[0].Value = StoreSchema.ChunkKey(_id, seq);
            _chunk = _select.ExecuteScalar() as byte[] ?? throw new InvalidDataException($"Chunk {seq} of the message is missing from the store.");
            _loadedSeq = seq;
        }

        var offsetInChunk = (int)(_position - ((long)seq * StoreSchema.ChunkSize));
        var available = _chunk.Length - offsetInChunk;
        if (available <= 0)
        {
            throw new InvalidDataException($"Chunk {seq} of the message is shorter than its size says.");
        }

        var n = Math.Min(available, buffer.Length);
        _chunk.AsSpan(offsetInChunk, n).CopyTo(buffer);
        _position += n;
        return n;
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
            _select.Dispose();
            if (_ownsTransaction)
            {
                _transaction?.Dispose();
            }

            _owner?.Dispose();
        }

        base.Dispose(disposing);
    }
}
