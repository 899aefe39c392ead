using System.Text;
using MimeKit;
using MimeKit.Text;

namespace Smtpd.Catcher.Mime;

/// <summary>What a leaf part of a message is to a reader.</summary>
internal enum PartRole
{
    /// <summary>The plain-text body.</summary>
    TextBody,

    /// <summary>The HTML body.</summary>
    HtmlBody,

    /// <summary>Shown with a body, such as an image that a <c>cid:</c> URL names.</summary>
    Inline,

    /// <summary>An attachment.</summary>
    Attachment,
}

/// <summary>One leaf part of a message with the id the API names it by.</summary>
/// <param name="PartId">The 1-based position in the MIME tree, dotted for nested multiparts: <c>1</c>, <c>2.1</c>.</param>
/// <param name="Entity">The part.</param>
/// <param name="Role">What it is to a reader.</param>
internal sealed record ClassifiedPart(string PartId, MimeEntity Entity, PartRole Role);

/// <summary>
/// Classifies the leaf parts of a message the same way for ingest (the counts the store keeps) and for the API
/// (the <c>Inline</c> and <c>Attachments</c> lists and <c>/part/{PartID}</c>), so the counts and the lists agree.
/// </summary>
internal static class MessageParts
{
    /// <summary>The most nested multiparts followed: a hostile message cannot make the walk recurse without end.</summary>
    private const int MaxDepth = 32;

    /// <summary>Lists the leaf parts of <paramref name="message"/> in MIME order.</summary>
    /// <param name="message">The parsed message.</param>
    /// <returns>The parts.</returns>
    public static List<ClassifiedPart> Classify(MimeMessage message)
    {
        var parts = new List<ClassifiedPart>();
        if (message.Body is { } body)
        {
            var state = new WalkState();
            Walk(body, body is Multipart ? string.Empty : "1", insideRelated: false, depth: 0, parts, state);
        }

        return parts;
    }

    /// <summary>Finds a part by its id.</summary>
    /// <param name="message">The parsed message.</param>
    /// <param name="partId">The id, as <see cref="Classify"/> gives it.</param>
    /// <returns>The part, or <see langword="null"/>.</returns>
    public static ClassifiedPart? Find(MimeMessage message, string partId) =>
        Classify(message).FirstOrDefault(p => string.Equals(p.PartId, partId, StringComparison.Ordinal));

    /// <summary>
    /// Reads at most <paramref name="maxChars"/> characters of a text part, decoded from its transfer encoding and
    /// charset, so a huge body costs no more than the cap.
    /// </summary>
    /// <param name="part">The text part.</param>
    /// <param name="maxChars">The cap.</param>
    /// <returns>The text.</returns>
    public static string ReadText(TextPart part, int maxChars)
    {
        if (part.Content is null)
        {
            return string.Empty;
        }

        Encoding encoding;
        try
        {
            encoding = part.ContentType.CharsetEncoding ?? Encoding.UTF8;
        }
        catch (NotSupportedException)
        {
            encoding = Encoding.UTF8;
        }

        using var decoded = part.Content.Open();
        using var reader = new StreamReader(decoded, encoding, detectEncodingFromByteOrderMarks: true);
        // Pooled: every message of the catcher's ingest reads its body here, and a new 32 KiB array each time was
        // most of what one small message allocated.
        var buffer = System.Buffers.ArrayPool<char>.Shared.Rent(Math.Min(maxChars, 16 * 1024));
        try
        {
            var read = reader.Read(buffer, 0, Math.Min(buffer.Length, maxChars));
            if (read == 0)
            {
                return string.Empty;
            }

            // The common case, a body that fits one read, makes its string straight from the buffer.
            if (read < buffer.Length && (read == maxChars || reader.Peek() < 0))
            {
                return new string(buffer, 0, read);
            }

            var text = new StringBuilder();
            text.Append(buffer, 0, read);
            while (text.Length < maxChars && (read = reader.Read(buffer, 0, Math.Min(buffer.Length, maxChars - text.Length))) > 0)
            {
                text.Append(buffer, 0, read);
            }

            return text.ToString();
        }
        finally
        {
            System.Buffers.ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Converts HTML to plain text for the snippet, the index and the link finder: the text tokens of MimeKit's
    /// HTML tokenizer (entities decoded), without script and style content, with a space at every tag so words on
    /// either side of a tag do not run together.
    /// </summary>
    /// <param name="html">The HTML.</param>
    /// <returns>The text.</returns>
    public static string HtmlToText(string html)
    {
        var tokenizer = new HtmlTokenizer(new StringReader(html));
        var text = new StringBuilder(html.Length / 2);
        var skipping = false;
        while (tokenizer.ReadNextToken(out var token))
        {
            switch (token)
            {
                case HtmlDataToken data when !skipping:
                    text.Append(data.Data);
                    break;
                case HtmlTagToken tag:
                    skipping = !tag.IsEndTag && !tag.IsEmptyElement && tag.Id is HtmlTagId.Script or HtmlTagId.Style;
                    text.Append(' ');
                    break;
                default:
                    break;
            }
        }

        return text.ToString();
    }

    /// <summary>Collapses every run of whitespace to one space and trims, then cuts at <paramref name="maxChars"/>.</summary>
    /// <param name="text">The text.</param>
    /// <param name="maxChars">The most characters kept.</param>
    /// <returns>The collapsed text.</returns>
    public static string Collapse(string text, int maxChars)
    {
        var result = new StringBuilder(Math.Min(text.Length, maxChars));
        var pendingSpace = false;
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c))
            {
                pendingSpace = result.Length > 0;
                continue;
            }

            if (pendingSpace)
            {
                if (result.Length + 1 >= maxChars)
                {
                    break;
                }

                result.Append(' ');
                pendingSpace = false;
            }

            result.Append(c);
            if (result.Length >= maxChars)
            {
                break;
            }
        }

        return result.ToString();
    }

    private static void Walk(MimeEntity entity, string id, bool insideRelated, int depth, List<ClassifiedPart> parts, WalkState state)
    {
        if (entity is Multipart multipart)
        {
            if (depth >= MaxDepth)
            {
                return;
            }

            var related = insideRelated || multipart.ContentType.IsMimeType("multipart", "related");
            for (var i = 0; i < multipart.Count; i++)
            {
                var childId = id.Length == 0 ? (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{id}.{i + 1}";
                Walk(multipart[i], childId, related, depth + 1, parts, state);
            }

            return;
        }

        parts.Add(new ClassifiedPart(id, entity, Role(entity, insideRelated, state)));
    }

    private static PartRole Role(MimeEntity entity, bool insideRelated, WalkState state)
    {
        if (entity is MessagePart || entity.IsAttachment)
        {
            return PartRole.Attachment;
        }

        if (entity is TextPart text)
        {
            if (text.IsPlain && !state.HasText)
            {
                state.HasText = true;
                return PartRole.TextBody;
            }

            if (text.IsHtml && !state.HasHtml)
            {
                state.HasHtml = true;
                return PartRole.HtmlBody;
            }
        }

        return entity.ContentId is not null || insideRelated || entity.ContentDisposition is { Disposition: ContentDisposition.Inline }
            ? PartRole.Inline
            : PartRole.Attachment;
    }

    private sealed class WalkState
    {
        public bool HasText { get; set; }

        public bool HasHtml { get; set; }
    }
}
