using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Smtpd.Catcher;

/// <summary>
/// Writes each message into a standard Maildir (the qmail <c>maildir(5)</c> protocol): the file is written in
/// <c>tmp</c>, fsynced, then renamed into <c>new</c>, so a reader never sees a partial message and a crash leaves at
/// worst a stray file in <c>tmp</c>. Names are unique: time, microseconds, process id, a counter and the host.
/// </summary>
internal sealed partial class MaildirWriter
{
    private const int CopyBufferSize = 64 * 1024;

    private readonly string _tmp;
    private readonly string _new;
    private readonly string _host;
    private long _counter;

    /// <summary>Creates <c>tmp</c>, <c>new</c> and <c>cur</c> under <paramref name="directory"/> as needed.</summary>
    /// <param name="directory">The Maildir.</param>
    /// <exception cref="IOException">A directory cannot be created.</exception>
    /// <exception cref="UnauthorizedAccessException">A directory cannot be created.</exception>
    public MaildirWriter(string directory)
    {
        Directory = Path.GetFullPath(directory);
        _tmp = Path.Combine(Directory, "tmp");
        _new = Path.Combine(Directory, "new");
        foreach (var sub in new[] { _tmp, _new, Path.Combine(Directory, "cur") })
        {
            System.IO.Directory.CreateDirectory(sub);
        }

        // maildir(5): a '/' or ':' in the host name would break the file name, so they are escaped as octal.
        _host = Environment.MachineName.Replace("/", "\\057", StringComparison.Ordinal).Replace(":", "\\072", StringComparison.Ordinal);
    }

    /// <summary>The Maildir's full path.</summary>
    public string Directory { get; }

    /// <summary>Writes one message, with <c>Return-Path</c> and one <c>Delivered-To</c> per recipient before its content.</summary>
    /// <param name="message">The message, during its delivery callback.</param>
    /// <param name="cancellationToken">Cancelled when the client goes away or the server stops.</param>
    /// <returns>The file name in <c>new</c>.</returns>
    public async Task<string> WriteAsync(SmtpMessage message, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        var name = string.Create(CultureInfo.InvariantCulture,
            $"{now.ToUnixTimeSeconds()}.M{now.Ticks / 10 % 1_000_000}P{Environment.ProcessId}Q{Interlocked.Increment(ref _counter)}.{_host}");
        var temporary = Path.Combine(_tmp, name);
        var header = new StringBuilder();
        header.Append("Return-Path: <").Append(message.Envelope.SenderAddress).Append(">\r\n");
        foreach (var recipient in message.Envelope.Recipients)
        {
            header.Append("Delivered-To: ").Append(recipient.Address).Append("\r\n");
        }

        try
        {
            await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, CopyBufferSize, FileOptions.Asynchronous))
            {
                await file.WriteAsync(Encoding.UTF8.GetBytes(header.ToString()), cancellationToken);
                await using var content = message.OpenRead();
                await content.CopyToAsync(file, CopyBufferSize, cancellationToken);
                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, Path.Combine(_new, name));
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }

        // The rename is durable only once the directory itself is synced.
        SyncDirectory(_new);
        return name;
    }

    private static void SyncDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            // NTFS journals the rename; Windows offers no directory fsync.
            return;
        }

        var fd = Open(path, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            throw new IOException($"Cannot open {path} to sync it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"Cannot sync {path} (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
