using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Unicode;

namespace Smtpd.Parsing;

/// <summary>Why a path failed to parse.</summary>
internal enum PathError
{
    None,
    Syntax,
    LocalPartTooLong,
    DomainTooLong,
    PathTooLong,
}

/// <summary>
/// A parser for the path grammar of RFC 5321 section 4.1.2, extended by RFC 6531 section 3.3 for UTF-8.
/// Each method is named after the ABNF rule it matches, and quotes it, so the code can be held against the RFC.
/// Every method either consumes exactly the text of its rule and returns <see langword="true"/>, or returns
/// <see langword="false"/> with the position unchanged.
/// </summary>
/// <remarks>
/// Non-ASCII octets are accepted wherever RFC 6531 allows UTF8-non-ascii; whether the transaction may use them
/// (the SMTPUTF8 parameter) is decided by the caller, which can then send the specific 553 5.6.7.
/// </remarks>
internal ref struct PathGrammar
{
    /// <summary>RFC 5321 4.5.3.1.1.</summary>
    public const int MaxLocalPartLength = 64;

    /// <summary>RFC 5321 4.5.3.1.2.</summary>
    public const int MaxDomainLength = 255;

    /// <summary>RFC 5321 4.5.3.1.3: including the angle brackets and any source route.</summary>
    public const int MaxPathLength = 256;

    private readonly ReadOnlySpan<byte> _text;
    private readonly MailboxCache? _mailboxes;

    public PathGrammar(ReadOnlySpan<byte> text, MailboxCache? mailboxes = null)
    {
        _text = text;
        _mailboxes = mailboxes;
        Position = 0;
    }

    public int Position { get; private set; }

    private readonly bool AtEnd => Position >= _text.Length;

    private readonly byte Current => _text[Position];

    /// <summary>
    /// <c>Reverse-path = Path / "&lt;&gt;"</c>.
    /// </summary>
    public PathError TryMakeReversePath(out SmtpMailbox? mailbox)
    {
        mailbox = null;
        if (_text[Position..].StartsWith("<>"u8))
        {
            Position += 2;
            return PathError.None;
        }

        return TryMakePath(out mailbox);
    }

    /// <summary>
    /// <c>Forward-path = Path</c>, and from RCPT: <c>"&lt;Postmaster@" Domain "&gt;" / "&lt;Postmaster&gt;"</c>.
    /// </summary>
    public PathError TryMakeForwardPath(out SmtpMailbox? mailbox)
    {
        // RFC 5321 4.1.1.3: <Postmaster> with no domain must be accepted, in any case (4.5.1).
        const int length = 12; // "<Postmaster>"
        if (_text.Length - Position >= length
            && Ascii.EqualsIgnoreCase(_text.Slice(Position, length), "<postmaster>"u8))
        {
            Position += length;
            mailbox = NewMailbox(_text.Slice(Position - length + 1, length - 2), []);
            return PathError.None;
        }

        return TryMakePath(out mailbox);
    }

    /// <summary><c>Path = "&lt;" [ A-d-l ":" ] Mailbox "&gt;"</c>.</summary>
    public PathError TryMakePath(out SmtpMailbox? mailbox)
    {
        mailbox = null;
        var start = Position;
        if (!TryMake((byte)'<'))
        {
            return PathError.Syntax;
        }

        // RFC 5321 4.1.2 and appendix C: a source route is accepted and ignored.
        var routeStart = Position;
        if (TryMakeAdl() && !TryMake((byte)':'))
        {
            Position = routeStart;
        }

        var error = TryMakeMailbox(out var localPart, out var domain);
        if (error != PathError.None || !TryMake((byte)'>'))
        {
            Position = start;
            return error == PathError.None ? PathError.Syntax : error;
        }

        var path = _text[start..Position];
        if (!Utf8.IsValid(path))
        {
            Position = start;
            return PathError.Syntax;
        }

        if (path.Length > MaxPathLength)
        {
            Position = start;
            return PathError.PathTooLong;
        }

        mailbox = NewMailbox(localPart, domain);
        return PathError.None;
    }

    /// <summary>The mailbox for a parsed path; with a session's cache, a repeated path reuses its mailbox.</summary>
    private readonly SmtpMailbox NewMailbox(ReadOnlySpan<byte> localPart, ReadOnlySpan<byte> domain) =>
        _mailboxes is null ? MailboxCache.Create(localPart, domain) : _mailboxes.GetOrCreate(localPart, domain);

    /// <summary><c>A-d-l = At-domain *( "," At-domain )</c>.</summary>
    private bool TryMakeAdl()
    {
        var start = Position;
        if (!TryMakeAtDomain())
        {
            return false;
        }

        while (true)
        {
            var mark = Position;
            if (!TryMake((byte)',') || !TryMakeAtDomain())
            {
                Position = mark;
                return Position > start;
            }
        }
    }

    /// <summary><c>At-domain = "@" Domain</c>.</summary>
    private bool TryMakeAtDomain()
    {
        var start = Position;
        if (TryMake((byte)'@') && TryMakeDomain())
        {
            return true;
        }

        Position = start;
        return false;
    }

    /// <summary><c>Mailbox = Local-part "@" ( Domain / address-literal )</c>.</summary>
    private PathError TryMakeMailbox(out ReadOnlySpan<byte> localPart, out ReadOnlySpan<byte> domain)
    {
        var start = Position;
        localPart = default;
        domain = default;
        if (!TryMakeLocalPart())
        {
            return PathError.Syntax;
        }

        localPart = _text[start..Position];
        if (!TryMake((byte)'@'))
        {
            Position = start;
            return PathError.Syntax;
        }

        var domainStart = Position;
        if (!TryMakeDomain() && !TryMakeAddressLiteral())
        {
            Position = start;
            return PathError.Syntax;
        }

        domain = _text[domainStart..Position];
        if (localPart.Length > MaxLocalPartLength)
        {
            Position = start;
            return PathError.LocalPartTooLong;
        }

        if (domain.Length > MaxDomainLength)
        {
            Position = start;
            return PathError.DomainTooLong;
        }

        return PathError.None;
    }

    /// <summary><c>Local-part = Dot-string / Quoted-string</c>.</summary>
    private bool TryMakeLocalPart() => TryMakeDotString() || TryMakeQuotedString();

    /// <summary><c>Dot-string = Atom *("." Atom)</c>.</summary>
    private bool TryMakeDotString()
    {
        if (!TryMakeAtom())
        {
            return false;
        }

        while (true)
        {
            var mark = Position;
            if (!TryMake((byte)'.') || !TryMakeAtom())
            {
                Position = mark;
                return true;
            }
        }
    }

    /// <summary><c>Atom = 1*atext</c>, with RFC 6531's <c>atext =/ UTF8-non-ascii</c>.</summary>
    private bool TryMakeAtom()
    {
        var start = Position;
        while (!AtEnd && IsAtext(Current))
        {
            Position++;
        }

        return Position > start;
    }

    /// <summary><c>Quoted-string = DQUOTE *QcontentSMTP DQUOTE</c>.</summary>
    private bool TryMakeQuotedString()
    {
        var start = Position;
        if (!TryMake((byte)'"'))
        {
            return false;
        }

        while (!AtEnd)
        {
            var c = Current;
            if (c == '"')
            {
                Position++;
                return true;
            }

            if (c == '\\')
            {
                // quoted-pairSMTP = %d92 %d32-126
                if (Position + 1 >= _text.Length || _text[Position + 1] is < 32 or > 126)
                {
                    break;
                }

                Position += 2;
            }
            else if (IsQtextSmtp(c))
            {
                Position++;
            }
            else
            {
                break;
            }
        }

        Position = start;
        return false;
    }

    /// <summary><c>Domain = sub-domain *("." sub-domain)</c>.</summary>
    private bool TryMakeDomain()
    {
        if (!TryMakeSubDomain())
        {
            return false;
        }

        while (true)
        {
            var mark = Position;
            if (!TryMake((byte)'.') || !TryMakeSubDomain())
            {
                Position = mark;
                return true;
            }
        }
    }

    /// <summary>
    /// <c>sub-domain = Let-dig [Ldh-str]</c>; <c>Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig</c>; RFC 6531 adds
    /// <c>sub-domain =/ U-label</c>, taken here as any run of UTF-8 octets.
    /// </summary>
    private bool TryMakeSubDomain()
    {
        var start = Position;
        if (AtEnd || !IsLetDig(Current))
        {
            return false;
        }

        while (!AtEnd && (IsLetDig(Current) || Current == '-'))
        {
            Position++;
        }

        // Ldh-str ends in Let-dig: give back trailing hyphens.
        while (_text[Position - 1] == '-')
        {
            Position--;
        }

        return Position > start;
    }

    /// <summary>
    /// <c>address-literal = "[" ( IPv4-address-literal / IPv6-address-literal / General-address-literal ) "]"</c>.
    /// </summary>
    private bool TryMakeAddressLiteral()
    {
        var start = Position;
        if (!TryMake((byte)'['))
        {
            return false;
        }

        var close = _text[Position..].IndexOf((byte)']');
        if (close <= 0)
        {
            Position = start;
            return false;
        }

        var content = _text.Slice(Position, close);
        if (IsIPv4AddressLiteral(content) || IsIPv6AddressLiteral(content) || IsGeneralAddressLiteral(content))
        {
            Position += close + 1;
            return true;
        }

        Position = start;
        return false;
    }

    /// <summary><c>IPv4-address-literal = Snum 3("." Snum)</c>; <c>Snum = 1*3DIGIT</c> representing 0 to 255.</summary>
    private static bool IsIPv4AddressLiteral(ReadOnlySpan<byte> content)
    {
        var parts = 0;
        while (true)
        {
            var value = 0;
            var digits = 0;
            while (digits < content.Length && char.IsAsciiDigit((char)content[digits]))
            {
                value = (value * 10) + (content[digits] - '0');
                digits++;
                if (digits > 3)
                {
                    return false;
                }
            }

            if (digits == 0 || value > 255)
            {
                return false;
            }

            parts++;
            content = content[digits..];
            if (content.IsEmpty)
            {
                return parts == 4;
            }

            if (content[0] != '.' || parts == 4)
            {
                return false;
            }

            content = content[1..];
        }
    }

    /// <summary><c>IPv6-address-literal = "IPv6:" IPv6-addr</c> (RFC 5321 4.1.3).</summary>
    private static bool IsIPv6AddressLiteral(ReadOnlySpan<byte> content)
    {
        if (content.Length < 7 || !Ascii.EqualsIgnoreCase(content[..5], "IPv6:"u8))
        {
            return false;
        }

        var address = content[5..];
        // IPv6-addr allows hex digits, colons and an embedded IPv4 part only: no zone index, no brackets.
        foreach (var c in address)
        {
            if (!(char.IsAsciiHexDigit((char)c) || c == ':' || c == '.'))
            {
                return false;
            }
        }

        return IPAddress.TryParse(Encoding.ASCII.GetString(address), out var parsed) && parsed.AddressFamily == AddressFamily.InterNetworkV6;
    }

    /// <summary><c>General-address-literal = Standardized-tag ":" 1*dcontent</c>; <c>dcontent = %d33-90 / %d94-126</c>.</summary>
    private static bool IsGeneralAddressLiteral(ReadOnlySpan<byte> content)
    {
        var colon = content.IndexOf((byte)':');
        if (colon <= 0 || colon == content.Length - 1)
        {
            return false;
        }

        // Standardized-tag = Ldh-str; "IPv6" is taken by the rule above, so a malformed IPv6 literal fails here too.
        var tag = content[..colon];
        if (Ascii.EqualsIgnoreCase(tag, "IPv6"u8) || !IsLetDig(tag[0]) || !IsLetDig(tag[^1]) || tag[0] >= 0x80 || tag[^1] >= 0x80)
        {
            return false;
        }

        foreach (var c in tag)
        {
            if (!(char.IsAsciiLetterOrDigit((char)c) || c == '-'))
            {
                return false;
            }
        }

        foreach (var c in content[(colon + 1)..])
        {
            if (c is < 33 or > 126 || c is (byte)'[' or (byte)'\\' or (byte)']')
            {
                return false;
            }
        }

        return true;
    }

    private bool TryMake(byte expected)
    {
        if (!AtEnd && Current == expected)
        {
            Position++;
            return true;
        }

        return false;
    }

    /// <summary>RFC 5322 3.2.3 atext, plus UTF8-non-ascii (RFC 6531 3.3).</summary>
    private static bool IsAtext(byte c) =>
        char.IsAsciiLetterOrDigit((char)c) || c >= 0x80 || "!#$%&'*+-/=?^_`{|}~"u8.Contains(c);

    /// <summary><c>qtextSMTP = %d32-33 / %d35-91 / %d93-126</c>, plus UTF8-non-ascii.</summary>
    private static bool IsQtextSmtp(byte c) => c is 32 or 33 or (>= 35 and <= 91) or (>= 93 and <= 126) or >= 0x80;

    /// <summary><c>Let-dig = ALPHA / DIGIT</c>, plus the octets of a UTF-8 U-label.</summary>
    private static bool IsLetDig(byte c) => char.IsAsciiLetterOrDigit((char)c) || c >= 0x80;
}
