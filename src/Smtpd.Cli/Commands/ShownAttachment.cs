using MimeKit;
using MimeKit.IO;

namespace Smtpd.Cli.Commands;

/// <summary>An attachment as <c>show</c> lists and saves it: its name, type and decoded size.</summary>
internal sealed class ShownAttachment
{
    // Long enough for any real name; keeps the path within every file system's limit.
    private const int MaxFileNameLength = 120;

    private readonly MimeEntity _entity;

    private ShownAttachment(MimeEntity entity, string? name, long size)
    {
        _entity = entity;
        Name = name;
        Size = size;
    }

    /// <summary>The file name the message gives, as given (it may hold a path, or nothing safe); <see langword="null"/> without one.</summary>
    public string? Name { get; }

    /// <summary>The media type, e.g. <c>application/pdf</c>.</summary>
    public string MimeType => _entity.ContentType.MimeType;

    /// <summary>The size once decoded (base64 or quoted-printable removed), in octets.</summary>
    public long Size { get; }

    /// <summary>The attachments of a message, in order, with their decoded sizes.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The attachments.</returns>
    public static IReadOnlyList<ShownAttachment> All(MimeMessage message) =>
        message.Attachments.Select(entity => new ShownAttachment(
            entity,
            entity is MimePart part ? part.FileName : entity.ContentDisposition?.FileName ?? entity.ContentType.Name,
            Measure(entity))).ToList();

    /// <summary>
    /// Saves the decoded attachment into <paramref name="directory"/> under a safe name (<see cref="SafeFileName"/>),
    /// never replacing a file: a name that is taken gets " (2)", " (3)" and so on before its extension.
    /// </summary>
    /// <param name="directory">The directory, which exists.</param>
    /// <param name="index">The attachment's position, from 1, for a name when the message gives none.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The full path written.</returns>
    public async Task<string> SaveAsync(string directory, int index, CancellationToken cancellationToken)
    {
        var name = SafeFileName(Name, index);
        var stem = Path.GetFileNameWithoutExtension(name);
        var extension = Path.GetExtension(name);
        for (var attempt = 1; ; attempt++)
        {
            var path = Path.GetFullPath(Path.Combine(directory, attempt == 1 ? name : $"{stem} ({attempt}){extension}"));
            FileStream file;
            try
            {
                // CreateNew fails if the name is taken, even by a file that appears between two attempts.
                file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            }
            catch (IOException) when (File.Exists(path) || Directory.Exists(path))
            {
                continue;
            }

            await using (file)
            {
                await WriteDecodedAsync(file, cancellationToken);
            }

            return path;
        }
    }

    /// <summary>
    /// A file name that stays inside the target directory: only the last segment of whatever path the message gives
    /// (either separator), no control or reserved characters, no leading dots (no <c>..</c>, no hidden files), at
    /// most <see cref="MaxFileNameLength"/> characters with the extension kept; <c>attachment-N</c> when nothing is
    /// left.
    /// </summary>
    /// <param name="name">The name in the message, from a hostile sender as far as anyone knows.</param>
    /// <param name="index">The attachment's position, from 1.</param>
    /// <returns>The name to write.</returns>
    public static string SafeFileName(string? name, int index)
    {
        var last = (name ?? string.Empty).Replace('\\', '/');
        last = last[(last.LastIndexOf('/') + 1)..];
        var invalid = Path.GetInvalidFileNameChars();
        var clean = new string(last.Select(c => char.IsControl(c) || invalid.Contains(c) || c is ':' or '*' or '?' or '"' or '<' or '>' or '|' ? '_' : c).ToArray())
            .Trim()
            .TrimStart('.')
            .TrimEnd('.', ' ');
        if (clean.Length > MaxFileNameLength)
        {
            var extension = Path.GetExtension(clean);
            extension = extension.Length > 16 ? string.Empty : extension;
            clean = clean[..(MaxFileNameLength - extension.Length)] + extension;
        }

        return clean.Length == 0 ? $"attachment-{index}" : clean;
    }

    private static long Measure(MimeEntity entity)
    {
        using var measuring = new MeasuringStream();
        WriteDecoded(entity, measuring);
        return measuring.Length;
    }

    private static void WriteDecoded(MimeEntity entity, Stream target)
    {
        switch (entity)
        {
            case MimePart { Content: { } content }:
                content.DecodeTo(target);
                break;
            case MessagePart { Message: { } message }:
                message.WriteTo(target);
                break;
        }
    }

    private async Task WriteDecodedAsync(Stream target, CancellationToken cancellationToken)
    {
        switch (_entity)
        {
            case MimePart { Content: { } content }:
                await content.DecodeToAsync(target, cancellationToken);
                break;
            case MessagePart { Message: { } message }:
                await message.WriteToAsync(target, cancellationToken);
                break;
        }
    }
}
