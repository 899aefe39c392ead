using System.Buffers.Text;

namespace Smtpd.Catcher.Pop3;

/// <summary>Why a command line could not be parsed; each has its own <c>-ERR</c> text.</summary>
internal enum Pop3ParseError : byte
{
    /// <summary>The line parsed.</summary>
    None,

    /// <summary>The keyword is not a command this server knows.</summary>
    UnknownCommand,

    /// <summary>A required argument is missing.</summary>
    MissingArgument,

    /// <summary>An argument was given to a command that takes none, or one too many.</summary>
    TooManyArguments,

    /// <summary>A message number or line count is not a number in range.</summary>
    BadNumber,

    /// <summary>An argument is longer than 40 octets (RFC 2449 section 3) or contains a control character.</summary>
    BadArgument,
}

/// <summary>
/// One parsed command line. The arguments are spans into the line (nothing is copied); numbers are already parsed.
/// </summary>
internal readonly ref struct Pop3Command
{
    /// <summary>The command.</summary>
    public required Pop3Verb Verb { get; init; }

    /// <summary>The first argument as it was sent: USER's name, PASS's password, AUTH's mechanism; empty when none.</summary>
    public ReadOnlySpan<byte> Text { get; init; }

    /// <summary>AUTH's initial response (RFC 5034 section 4); empty when none was sent.</summary>
    public ReadOnlySpan<byte> InitialResponse { get; init; }

    /// <summary>The message number, or 0 when none was given.</summary>
    public int Message { get; init; }

    /// <summary>TOP's count of body lines.</summary>
    public int Lines { get; init; }
}

/// <summary>
/// Parses one POP3 command line, already split off at its line end, from bytes: dispatch is on the keyword first
/// (never by trying every command in turn), and no string is made for a command.
/// </summary>
internal static class Pop3CommandParser
{
    /// <summary>RFC 2449 section 3: "Each argument may be up to 40 characters long."</summary>
    public const int MaxArgumentLength = 40;

    private const byte Space = (byte)' ';
    private const byte CarriageReturn = (byte)'\r';

    /// <summary>Parses a command line.</summary>
    /// <remarks>
    /// RFC 1939 section 3: <c>keyword [SP argument]* CRLF</c>; keywords are three or four characters, case-insensitive.
    /// RFC 2449 section 3 caps an argument at 40 characters (PASS's argument may contain spaces, RFC 1939 section 7).
    /// </remarks>
    /// <param name="line">The line without its LF; a CR before the LF is dropped here.</param>
    /// <param name="command">The command, when the result is <see cref="Pop3ParseError.None"/>.</param>
    /// <returns>What was wrong, or <see cref="Pop3ParseError.None"/>.</returns>
    public static Pop3ParseError TryParse(ReadOnlySpan<byte> line, out Pop3Command command)
    {
        if (!line.IsEmpty && line[^1] == CarriageReturn)
        {
            line = line[..^1];
        }

        var space = line.IndexOf(Space);
        var keyword = space < 0 ? line : line[..space];
        var arguments = space < 0 ? [] : line[(space + 1)..];
        var verb = TryMakeKeyword(keyword);
        command = new Pop3Command { Verb = verb };
        if (verb == Pop3Verb.Unknown)
        {
            return Pop3ParseError.UnknownCommand;
        }

        if (arguments.ContainsAnyInRange((byte)0, (byte)0x1f) || arguments.Contains((byte)0x7f))
        {
            return Pop3ParseError.BadArgument;
        }

        return Pop3CommandTable.For(verb).Arguments switch
        {
            Pop3Arguments.None => arguments.IsEmpty && space < 0 ? Pop3ParseError.None : Pop3ParseError.TooManyArguments,
            Pop3Arguments.Text => TryMakeText(verb, arguments, out command),
            Pop3Arguments.Message => TryMakeNumbers(verb, arguments, space >= 0, 1, 1, out command),
            Pop3Arguments.OptionalMessage => TryMakeNumbers(verb, arguments, space >= 0, 0, 1, out command),
            Pop3Arguments.MessageAndLines => TryMakeNumbers(verb, arguments, space >= 0, 2, 2, out command),
            Pop3Arguments.Mechanism => TryMakeMechanism(arguments, space >= 0, out command),
            _ => Pop3ParseError.UnknownCommand,
        };
    }

    /// <summary>The keyword, matched on its ASCII letters folded to upper case as one 32-bit value.</summary>
    private static Pop3Verb TryMakeKeyword(ReadOnlySpan<byte> keyword)
    {
        if (keyword.Length is < 3 or > 4)
        {
            return Pop3Verb.Unknown;
        }

        uint key = 0;
        foreach (var b in keyword)
        {
            // Only letters are folded; anything else makes a key that matches no command.
            key = (key << 8) | (uint)(b is >= (byte)'a' and <= (byte)'z' ? b - 0x20 : b);
        }

        return key switch
        {
            0x55534552 => Pop3Verb.User, // USER
            0x50415353 => Pop3Verb.Pass, // PASS
            0x41555448 => Pop3Verb.Auth, // AUTH
            0x53544C53 => Pop3Verb.Stls, // STLS
            0x43415041 => Pop3Verb.Capa, // CAPA
            0x51554954 => Pop3Verb.Quit, // QUIT
            0x53544154 => Pop3Verb.Stat, // STAT
            0x4C495354 => Pop3Verb.List, // LIST
            0x52455452 => Pop3Verb.Retr, // RETR
            0x44454C45 => Pop3Verb.Dele, // DELE
            0x4E4F4F50 => Pop3Verb.Noop, // NOOP
            0x52534554 => Pop3Verb.Rset, // RSET
            0x00544F50 => Pop3Verb.Top, // TOP
            0x5549444C => Pop3Verb.Uidl, // UIDL
            _ => Pop3Verb.Unknown,
        };
    }

    /// <summary>USER name / PASS string (RFC 1939 section 7): the rest of the line, which must not be empty.</summary>
    private static Pop3ParseError TryMakeText(Pop3Verb verb, ReadOnlySpan<byte> arguments, out Pop3Command command)
    {
        command = new Pop3Command { Verb = verb, Text = arguments };
        if (arguments.IsEmpty)
        {
            return Pop3ParseError.MissingArgument;
        }

        // A password may contain spaces (RFC 1939 section 7, PASS); a user name is one argument.
        return verb == Pop3Verb.User && (arguments.Length > MaxArgumentLength || arguments.Contains(Space))
            ? Pop3ParseError.BadArgument
            : Pop3ParseError.None;
    }

    /// <summary><c>msg</c> and <c>n</c> of RFC 1939 section 5: a message number (1 or more) and a count of lines (0 or more).</summary>
    private static Pop3ParseError TryMakeNumbers(Pop3Verb verb, ReadOnlySpan<byte> arguments, bool hadSpace, int min, int max, out Pop3Command command)
    {
        command = new Pop3Command { Verb = verb };
        if (!hadSpace)
        {
            return min == 0 ? Pop3ParseError.None : Pop3ParseError.MissingArgument;
        }

        Span<int> values = stackalloc int[2];
        var count = 0;
        while (true)
        {
            var space = arguments.IndexOf(Space);
            if (count == max)
            {
                return Pop3ParseError.TooManyArguments;
            }

            // An empty argument (two spaces, a trailing space) is not a number either.
            if (!TryMakeNumber(space < 0 ? arguments : arguments[..space], out values[count]))
            {
                return Pop3ParseError.BadNumber;
            }

            count++;
            if (space < 0)
            {
                break;
            }

            arguments = arguments[(space + 1)..];
        }

        if (count < min)
        {
            return Pop3ParseError.MissingArgument;
        }

        if (values[0] < 1)
        {
            return Pop3ParseError.BadNumber;
        }

        command = new Pop3Command { Verb = verb, Message = values[0], Lines = count > 1 ? values[1] : 0 };
        return Pop3ParseError.None;
    }

    /// <summary>A decimal number of at most nine digits (it fits an int): no sign, no spaces.</summary>
    private static bool TryMakeNumber(ReadOnlySpan<byte> digits, out int value)
    {
        value = 0;
        return digits.Length is > 0 and <= 9
            && digits.IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0
            && Utf8Parser.TryParse(digits, out value, out _);
    }

    /// <summary><c>AUTH mechanism [initial-response]</c> (RFC 5034 section 4); a bare <c>AUTH</c> asks for the list.</summary>
    private static Pop3ParseError TryMakeMechanism(ReadOnlySpan<byte> arguments, bool hadSpace, out Pop3Command command)
    {
        command = new Pop3Command { Verb = Pop3Verb.Auth };
        if (arguments.IsEmpty)
        {
            return hadSpace ? Pop3ParseError.MissingArgument : Pop3ParseError.None;
        }

        var space = arguments.IndexOf(Space);
        var mechanism = space < 0 ? arguments : arguments[..space];
        var response = space < 0 ? [] : arguments[(space + 1)..];
        if (mechanism.IsEmpty || mechanism.Length > MaxArgumentLength || (space >= 0 && (response.IsEmpty || response.Contains(Space))))
        {
            return Pop3ParseError.BadArgument;
        }

        command = new Pop3Command { Verb = Pop3Verb.Auth, Text = mechanism, InitialResponse = response };
        return Pop3ParseError.None;
    }
}
