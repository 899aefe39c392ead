using System.Text;

namespace Smtpd;

/// <summary>
/// One SMTP reply: a three-digit code, an optional enhanced status code and one or more lines of text.
/// </summary>
/// <remarks>
/// Replies are immutable and cache their wire form, so the common replies are encoded once per process
/// rather than once per command. The enhanced status code (RFC 3463) is written only once the session has
/// advertised ENHANCEDSTATUSCODES in its EHLO reply (RFC 2034 section 3); before that the same reply is sent
/// without it.
/// </remarks>
public sealed class SmtpReply
{
    private byte[]? _plainBytes;
    private byte[]? _enhancedBytes;

    /// <summary>Creates a single-line reply.</summary>
    /// <param name="code">The reply code, 200 to 599 (RFC 5321 section 4.2).</param>
    /// <param name="enhancedStatusCode">An RFC 3463 code such as <c>2.0.0</c>, or <see langword="null"/>. Its class digit must match the code's first digit.</param>
    /// <param name="text">The human-readable text. It must not contain CR or LF.</param>
    /// <exception cref="ArgumentOutOfRangeException">The code is outside 200 to 599.</exception>
    /// <exception cref="ArgumentException">The enhanced status code is malformed or its class differs from the code's, or the text contains CR or LF.</exception>
    public SmtpReply(int code, string? enhancedStatusCode, string text)
        : this(code, enhancedStatusCode, [text])
    {
    }

    /// <summary>Creates a reply of one or more lines (RFC 5321 section 4.2.1).</summary>
    /// <param name="code">The reply code, 200 to 599.</param>
    /// <param name="enhancedStatusCode">An RFC 3463 code, or <see langword="null"/>.</param>
    /// <param name="lines">The lines of text; at least one.</param>
    /// <exception cref="ArgumentOutOfRangeException">The code is outside 200 to 599.</exception>
    /// <exception cref="ArgumentException">A line contains CR or LF, there are no lines, or the enhanced status code is malformed.</exception>
    public SmtpReply(int code, string? enhancedStatusCode, IReadOnlyList<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        if (code is < 200 or > 599)
        {
            throw new ArgumentOutOfRangeException(nameof(code), code, "An SMTP reply code is a number from 200 to 599 (RFC 5321 section 4.2).");
        }

        if (lines.Count == 0)
        {
            throw new ArgumentException("A reply needs at least one line of text.", nameof(lines));
        }

        foreach (var line in lines)
        {
            ArgumentNullException.ThrowIfNull(line, nameof(lines));
            if (line.AsSpan().IndexOfAny('\r', '\n') >= 0)
            {
                throw new ArgumentException("Reply text must not contain CR or LF: it would let the text forge further replies.", nameof(lines));
            }
        }

        if (enhancedStatusCode is not null && !IsValidEnhancedStatusCode(enhancedStatusCode, code))
        {
            throw new ArgumentException($"'{enhancedStatusCode}' is not an RFC 3463 status code of class {code / 100} (class.subject.detail).", nameof(enhancedStatusCode));
        }

        Code = code;
        EnhancedStatusCode = enhancedStatusCode;
        Lines = lines.ToArray();
    }

    /// <summary>The three-digit reply code.</summary>
    public int Code { get; }

    /// <summary>The RFC 3463 enhanced status code, or <see langword="null"/>.</summary>
    public string? EnhancedStatusCode { get; }

    /// <summary>The lines of text, without codes.</summary>
    public IReadOnlyList<string> Lines { get; }

    /// <summary>The first line of text.</summary>
    public string Text => Lines[0];

    /// <summary>Whether the code is 2xx or 3xx.</summary>
    public bool IsPositive => Code < 400;

    /// <summary>Whether the code is 4xx: the client may try again later.</summary>
    public bool IsTransient => Code is >= 400 and < 500;

    /// <summary>Returns the wire form of the reply, with or without the enhanced status code.</summary>
    internal ReadOnlySpan<byte> GetBytes(bool withEnhancedStatusCode) =>
        withEnhancedStatusCode && EnhancedStatusCode is not null
            ? _enhancedBytes ??= Encode(true)
            : _plainBytes ??= Encode(false);

    private byte[] Encode(bool withEnhancedStatusCode)
    {
        var builder = new StringBuilder();
        for (var i = 0; i < Lines.Count; i++)
        {
            // RFC 5321 4.2.1: every line but the last has a hyphen after the code.
            builder.Append(Code).Append(i == Lines.Count - 1 ? ' ' : '-');
            if (withEnhancedStatusCode)
            {
                // RFC 2034 section 3: the status code comes first on every line of the reply.
                builder.Append(EnhancedStatusCode).Append(' ');
            }

            builder.Append(Lines[i]).Append("\r\n");
        }

        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    /// <inheritdoc/>
    public override string ToString() =>
        EnhancedStatusCode is null ? $"{Code} {string.Join(" / ", Lines)}" : $"{Code} {EnhancedStatusCode} {string.Join(" / ", Lines)}";

    /// <remarks>RFC 3463 section 2: status-code = class "." subject "." detail; class is 2, 4 or 5; subject and detail 1 to 3 digits.</remarks>
    private static bool IsValidEnhancedStatusCode(string value, int code)
    {
        var parts = value.Split('.');
        if (parts.Length != 3 || parts[0].Length != 1 || parts[0][0] - '0' != code / 100 || parts[0][0] is not ('2' or '4' or '5'))
        {
            return false;
        }

        return IsDigits(parts[1]) && IsDigits(parts[2]);

        static bool IsDigits(string s) => s.Length is >= 1 and <= 3 && s.All(char.IsAsciiDigit);
    }
}
