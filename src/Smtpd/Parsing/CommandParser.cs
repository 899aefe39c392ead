using System.Buffers.Binary;
using System.Text;
using Smtpd.Protocol;
using Smtpd.Protocol.Commands;

namespace Smtpd.Parsing;

/// <summary>
/// Turns one command line into an <see cref="SmtpCommand"/>. It dispatches on the verb first, with one
/// comparison of four octets, and then runs only that verb's argument grammar. It does no I/O and keeps no
/// state between lines, so one static parser serves every session.
/// </summary>
internal static class CommandParser
{
    // The verbs as big-endian ASCII, lower case; the line's verb is folded to lower case with "| 0x20" per octet,
    // which maps exactly the letters A-Z onto a-z and can never map a non-letter onto a letter.
    private const uint Helo = ('h' << 24) | ('e' << 16) | ('l' << 8) | 'o';
    private const uint Ehlo = ('e' << 24) | ('h' << 16) | ('l' << 8) | 'o';
    private const uint Mail = ('m' << 24) | ('a' << 16) | ('i' << 8) | 'l';
    private const uint Rcpt = ('r' << 24) | ('c' << 16) | ('p' << 8) | 't';
    private const uint Data = ('d' << 24) | ('a' << 16) | ('t' << 8) | 'a';
    private const uint Bdat = ('b' << 24) | ('d' << 16) | ('a' << 8) | 't';
    private const uint Rset = ('r' << 24) | ('s' << 16) | ('e' << 8) | 't';
    private const uint Noop = ('n' << 24) | ('o' << 16) | ('o' << 8) | 'p';
    private const uint Quit = ('q' << 24) | ('u' << 16) | ('i' << 8) | 't';
    private const uint Vrfy = ('v' << 24) | ('r' << 16) | ('f' << 8) | 'y';
    private const uint Expn = ('e' << 24) | ('x' << 16) | ('p' << 8) | 'n';
    private const uint Help = ('h' << 24) | ('e' << 16) | ('l' << 8) | 'p';
    private const uint Auth = ('a' << 24) | ('u' << 16) | ('t' << 8) | 'h';
    private const uint Lhlo = ('l' << 24) | ('h' << 16) | ('l' << 8) | 'o';
    private const ulong StartTls = ((ulong)(('s' << 24) | ('t' << 16) | ('a' << 8) | 'r') << 32) | (('t' << 24) | ('t' << 16) | ('l' << 8) | 's');

    /// <summary>The verb of a line, by its first four octets.</summary>
    /// <param name="line">The line.</param>
    /// <param name="lmtp">Whether the session speaks LMTP, where LHLO is a verb; elsewhere it is an unknown command.</param>
    public static SmtpVerb ParseVerb(ReadOnlySpan<byte> line, bool lmtp = false)
    {
        // Every verb but STARTTLS is four letters followed by the end of the line or a space (RFC 5321 4.1.1).
        if (line.Length < 4 || (line.Length > 4 && line[4] != (byte)' '))
        {
            return line.Length >= 8 && (line.Length == 8 || line[8] == (byte)' ')
                && (BinaryPrimitives.ReadUInt64BigEndian(line) | 0x2020202020202020ul) == StartTls
                ? SmtpVerb.StartTls
                : SmtpVerb.Unknown;
        }

        return (BinaryPrimitives.ReadUInt32BigEndian(line) | 0x20202020u) switch
        {
            Helo => SmtpVerb.Helo,
            Ehlo => SmtpVerb.Ehlo,
            Mail => SmtpVerb.Mail,
            Rcpt => SmtpVerb.Rcpt,
            Data => SmtpVerb.Data,
            Bdat => SmtpVerb.Bdat,
            Rset => SmtpVerb.Rset,
            Noop => SmtpVerb.Noop,
            Quit => SmtpVerb.Quit,
            Vrfy => SmtpVerb.Vrfy,
            Expn => SmtpVerb.Expn,
            Help => SmtpVerb.Help,
            Auth => SmtpVerb.Auth,
            Lhlo when lmtp => SmtpVerb.Lhlo,
            _ => SmtpVerb.Unknown,
        };
    }

    /// <summary>Parses an SMTP command line, with the DSN parameters unsupported.</summary>
    /// <param name="line">The line without its LF; a final CR, if any, is removed here.</param>
    /// <param name="smtpUtf8">Whether the open transaction's MAIL carried SMTPUTF8, which permits UTF-8 in RCPT.</param>
    /// <returns>The command: a typed command, an <see cref="InvalidCommand"/> carrying its 5xx reply, or <see cref="UnknownCommand.Instance"/>.</returns>
    public static SmtpCommand Parse(ReadOnlySpan<byte> line, bool smtpUtf8) => Parse(line, smtpUtf8, dsn: false);

    /// <summary>Parses a command line.</summary>
    /// <param name="line">The line without its LF; a final CR, if any, is removed here.</param>
    /// <param name="smtpUtf8">Whether the open transaction's MAIL carried SMTPUTF8, which permits UTF-8 in RCPT.</param>
    /// <param name="dsn">Whether the RFC 3461 parameters are supported (<see cref="SmtpServerOptions.EnableDsn"/>); otherwise they are unknown parameters.</param>
    /// <returns>The command: a typed command, an <see cref="InvalidCommand"/> carrying its 5xx reply, or <see cref="UnknownCommand.Instance"/>.</returns>
    public static SmtpCommand Parse(ReadOnlySpan<byte> line, bool smtpUtf8, bool dsn) => Parse(line, smtpUtf8, dsn, cache: null);

    /// <summary>Parses a command line for a session, reusing that session's command objects and recent mailboxes.</summary>
    /// <param name="line">The line without its LF; a final CR, if any, is removed here.</param>
    /// <param name="smtpUtf8">Whether the open transaction's MAIL carried SMTPUTF8, which permits UTF-8 in RCPT.</param>
    /// <param name="dsn">Whether the RFC 3461 parameters are supported (<see cref="SmtpServerOptions.EnableDsn"/>); otherwise they are unknown parameters.</param>
    /// <param name="cache">
    /// The session's <see cref="CommandCache"/>, with which MAIL, RCPT and BDAT allocate nothing once warm; the
    /// returned command is valid until the next call with the same cache. <see langword="null"/> allocates fresh objects.
    /// </param>
    /// <param name="lmtp">Whether the session speaks LMTP (RFC 2033 4.1): LHLO is its greeting and HELO/EHLO are refused.</param>
    /// <returns>The command: a typed command, an <see cref="InvalidCommand"/> carrying its 5xx reply, or <see cref="UnknownCommand.Instance"/>.</returns>
    public static SmtpCommand Parse(ReadOnlySpan<byte> line, bool smtpUtf8, bool dsn, CommandCache? cache, bool lmtp = false)
    {
        if (!line.IsEmpty && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }

        var verb = ParseVerb(line, lmtp);
        if (verb == SmtpVerb.Unknown)
        {
            return IsHttpRequestLine(line) ? ForbiddenCommand.Instance : UnknownCommand.Instance;
        }

        // RFC 5321 2.3.8 and 4.1.1: commands are printable text. A NUL, a stray CR or another control
        // character inside a command is a syntax error, never something to interpret.
        if (line.IndexOfAnyInRange((byte)0, (byte)31) >= 0 || line.Contains((byte)127))
        {
            return new InvalidCommand(verb, SmtpReplies.InvalidCharacters);
        }

        var argumentStart = verb == SmtpVerb.StartTls ? 9 : 5;
        var argument = line.Length > argumentStart ? line[argumentStart..] : [];
        argument = argument.TrimEnd((byte)' ');
        return verb switch
        {
            SmtpVerb.Helo or SmtpVerb.Ehlo => lmtp ? (verb == SmtpVerb.Helo ? HeloInLmtp : EhloInLmtp) : ParseHelo(verb, argument),
            SmtpVerb.Lhlo => ParseHelo(verb, argument),
            SmtpVerb.Mail => ParseMail(argument, dsn, cache),
            SmtpVerb.Rcpt => ParseRcpt(argument, smtpUtf8, dsn, cache),
            SmtpVerb.Bdat => ParseBdat(argument, cache),
            SmtpVerb.Data => NoArgument(argument, DataCommand.Instance),
            SmtpVerb.Rset => NoArgument(argument, RsetCommand.Instance),
            SmtpVerb.Quit => NoArgument(argument, QuitCommand.Instance),
            // RFC 5321 4.1.1.9: NOOP may carry a string, which is ignored.
            SmtpVerb.Noop => NoopCommand.Instance,
            SmtpVerb.Vrfy => argument.IsEmpty ? new InvalidCommand(verb, SmtpReplies.VrfyRequiresArgument) : VrfyCommand.Instance,
            SmtpVerb.Expn => ExpnCommand.Instance,
            SmtpVerb.Help => HelpCommand.Instance,
            SmtpVerb.StartTls => NoArgument(argument, StartTlsCommand.Instance),
            SmtpVerb.Auth => ParseAuth(argument),
            _ => UnknownCommand.Instance,
        };
    }

    /// <summary>
    /// Whether the line starts like an HTTP request (RFC 9110 9: a method, a space, a target), the signature of a
    /// cross-protocol request such as one made through a server-side request forgery. Postfix forbids CONNECT, GET
    /// and POST; the other methods are added because they can carry a body just as well.
    /// </summary>
    private static bool IsHttpRequestLine(ReadOnlySpan<byte> line) =>
        line.StartsWith("GET "u8) || line.StartsWith("POST "u8) || line.StartsWith("HEAD "u8) || line.StartsWith("PUT "u8)
        || line.StartsWith("CONNECT "u8) || line.StartsWith("OPTIONS "u8) || line.StartsWith("DELETE "u8) || line.StartsWith("PATCH "u8);

    private static SmtpCommand NoArgument(ReadOnlySpan<byte> argument, SmtpCommand command) =>
        argument.IsEmpty ? command : new InvalidCommand(command.Verb, SmtpReplies.NoArgumentsAllowed);

    /// <summary>
    /// <c>ehlo = "EHLO" SP ( Domain / address-literal ) CRLF</c> (RFC 5321 4.1.1.1); HELO and, on LMTP listeners,
    /// LHLO (RFC 2033 4.1) take the same argument.
    /// </summary>
    /// <remarks>
    /// The name is not checked against the Domain rule: many real clients (System.Net.Mail among them)
    /// send a bare machine name that may contain underscores, and RFC 5321 4.1.4 forbids refusing a message
    /// because the EHLO name is wrong. Only its presence and printability are required.
    /// </remarks>
    private static SmtpCommand ParseHelo(SmtpVerb verb, ReadOnlySpan<byte> argument)
    {
        argument = argument.TrimStart((byte)' ');
        var end = argument.IndexOf((byte)' ');
        var name = end < 0 ? argument : argument[..end];
        if (name.IsEmpty || !System.Text.Unicode.Utf8.IsValid(name))
        {
            return new InvalidCommand(verb, SmtpReplies.HeloRequiresDomain);
        }

        return new HeloCommand(Encoding.UTF8.GetString(name), verb);
    }

    // RFC 2033 4.1: LHLO replaces HELO and EHLO, so that a client that does not know it talks to an LMTP server is
    // stopped before its first transaction. The commands are immutable, so one of each serves every session.
    private static readonly InvalidCommand HeloInLmtp = new(SmtpVerb.Helo, SmtpReplies.LhloRequired);
    private static readonly InvalidCommand EhloInLmtp = new(SmtpVerb.Ehlo, SmtpReplies.LhloRequired);

    /// <summary><c>auth-command = "AUTH" SP sasl-mech [SP initial-response]</c>; <c>sasl-mech = 1*20mech-char</c> (RFC 4954 4, RFC 4422 3.1).</summary>
    private static SmtpCommand ParseAuth(ReadOnlySpan<byte> argument)
    {
        var space = argument.IndexOf((byte)' ');
        var mechanism = space < 0 ? argument : argument[..space];
        var response = space < 0 ? [] : argument[(space + 1)..];
        if (mechanism.IsEmpty || mechanism.Length > 20 || response.Contains((byte)' '))
        {
            return new InvalidCommand(SmtpVerb.Auth, SmtpReplies.AuthSyntax);
        }

        foreach (var c in mechanism)
        {
            // mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE (lower case is folded).
            if (!char.IsAsciiLetterOrDigit((char)c) && c != '-' && c != '_')
            {
                return new InvalidCommand(SmtpVerb.Auth, SmtpReplies.AuthSyntax);
            }
        }

        return new AuthCommand(Encoding.ASCII.GetString(mechanism).ToUpperInvariant(), response.IsEmpty ? null : Encoding.ASCII.GetString(response));
    }

    /// <summary><c>mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF</c> (RFC 5321 4.1.1.2).</summary>
    private static SmtpCommand ParseMail(ReadOnlySpan<byte> argument, bool dsn, CommandCache? cache)
    {
        if (!TryStripKeyword(ref argument, "from:"u8))
        {
            return new InvalidCommand(SmtpVerb.Mail, SmtpReplies.MailSyntax);
        }

        var grammar = new PathGrammar(argument, cache?.Mailboxes);
        var error = grammar.TryMakeReversePath(out var sender);
        if (error != PathError.None)
        {
            return new InvalidCommand(SmtpVerb.Mail, PathErrorReply(error, SmtpReplies.BadSenderAddress));
        }

        long? size = null;
        var body = SmtpBodyType.SevenBit;
        var bodySeen = false;
        var smtpUtf8 = false;
        var dsnReturn = SmtpDsnReturn.None;
        string? envelopeId = null;
        var parameters = new ParameterReader(argument[grammar.Position..]);
        while (parameters.TryRead(out var keyword, out var value, out var malformed))
        {
            if (Ascii.EqualsIgnoreCase(keyword, "SIZE"u8))
            {
                // RFC 1870 section 6: size-value = 1*20DIGIT.
                if (size is not null || value.IsEmpty || value.Length > 20 || value.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
                {
                    return new InvalidCommand(SmtpVerb.Mail, size is null ? SmtpReplies.BadParameterValue : SmtpReplies.DuplicateParameter);
                }

                size = ParseSize(value);
            }
            else if (Ascii.EqualsIgnoreCase(keyword, "BODY"u8))
            {
                if (bodySeen)
                {
                    return new InvalidCommand(SmtpVerb.Mail, SmtpReplies.DuplicateParameter);
                }

                bodySeen = true;
                if (Ascii.EqualsIgnoreCase(value, "7BIT"u8))
                {
                    body = SmtpBodyType.SevenBit;
                }
                else if (Ascii.EqualsIgnoreCase(value, "8BITMIME"u8))
                {
                    body = SmtpBodyType.EightBitMime;
                }
                else if (Ascii.EqualsIgnoreCase(value, "BINARYMIME"u8))
                {
                    body = SmtpBodyType.BinaryMime;
                }
                else
                {
                    return new InvalidCommand(SmtpVerb.Mail, SmtpReplies.BadParameterValue);
                }
            }
            else if (Ascii.EqualsIgnoreCase(keyword, "AUTH"u8))
            {
                // RFC 4954 5: AUTH=<> or AUTH=xtext-mailbox. Accepted and not relied on: the server trusts its own
                // AUTH state, never the client's claim about another hop.
                if (value.IsEmpty)
                {
                    return new InvalidCommand(SmtpVerb.Mail, SmtpReplies.BadParameterValue);
                }
            }
            else if (Ascii.EqualsIgnoreCase(keyword, "SMTPUTF8"u8))
            {
                // RFC 6531 3.4: the parameter has no value.
                if (!value.IsEmpty || smtpUtf8)
                {
                    return new InvalidCommand(SmtpVerb.Mail, smtpUtf8 ? SmtpReplies.DuplicateParameter : SmtpReplies.BadParameterValue);
                }

                smtpUtf8 = true;
            }
            else if (dsn && Ascii.EqualsIgnoreCase(keyword, "RET"u8))
            {
                // RFC 3461 4.3.
                if (dsnReturn != SmtpDsnReturn.None)
                {
                    return new InvalidCommand(SmtpVerb.Mail, SmtpReplies.DuplicateParameter);
                }

                if (!DsnGrammar.TryMakeRetValue(value, out dsnReturn))
                {
                    return new InvalidCommand(SmtpVerb.Mail, SmtpReplies.DsnRetSyntax);
                }
            }
            else if (dsn && Ascii.EqualsIgnoreCase(keyword, "ENVID"u8))
            {
                // RFC 3461 4.4.
                if (envelopeId is not null)
                {
                    return new InvalidCommand(SmtpVerb.Mail, SmtpReplies.DuplicateParameter);
                }

                var envidError = DsnGrammar.TryMakeEnvelopeId(value, out envelopeId);
                if (envidError != DsnError.None)
                {
                    return new InvalidCommand(SmtpVerb.Mail, DsnErrorReply(envidError, SmtpReplies.DsnEnvidSyntax, SmtpReplies.DsnEnvidTooLong));
                }
            }
            else if (dsn && (Ascii.EqualsIgnoreCase(keyword, "NOTIFY"u8) || Ascii.EqualsIgnoreCase(keyword, "ORCPT"u8)))
            {
                return new InvalidCommand(SmtpVerb.Mail, SmtpReplies.DsnRcptParameterOnMail);
            }
            else
            {
                return new InvalidCommand(SmtpVerb.Mail, SmtpReplies.UnknownParameter);
            }
        }

        if (parameters.Malformed)
        {
            return new InvalidCommand(SmtpVerb.Mail, SmtpReplies.MailSyntax);
        }

        if (sender is { IsInternationalized: true } && !smtpUtf8)
        {
            return new InvalidCommand(SmtpVerb.Mail, SmtpReplies.Utf8NeedsSmtpUtf8);
        }

        return (cache?.Mail ?? new MailCommand()).Set(sender, size, body, smtpUtf8, dsnReturn, envelopeId);
    }

    /// <summary><c>rcpt = "RCPT TO:" ( "&lt;Postmaster@" Domain "&gt;" / "&lt;Postmaster&gt;" / Forward-path ) [SP Rcpt-parameters] CRLF</c> (RFC 5321 4.1.1.3).</summary>
    /// <remarks>
    /// The only Rcpt-parameters are RFC 3461's <c>NOTIFY</c> and <c>ORCPT</c>, with DSN enabled. A RCPT without them
    /// allocates nothing beyond its mailbox: <see cref="SmtpMailbox.Dsn"/> stays <see langword="null"/>.
    /// </remarks>
    private static SmtpCommand ParseRcpt(ReadOnlySpan<byte> argument, bool smtpUtf8, bool dsn, CommandCache? cache)
    {
        if (!TryStripKeyword(ref argument, "to:"u8))
        {
            return new InvalidCommand(SmtpVerb.Rcpt, SmtpReplies.RcptSyntax);
        }

        var grammar = new PathGrammar(argument, cache?.Mailboxes);
        var error = grammar.TryMakeForwardPath(out var recipient);
        if (error != PathError.None || recipient is null)
        {
            return new InvalidCommand(SmtpVerb.Rcpt, PathErrorReply(error, SmtpReplies.BadRecipientAddress));
        }

        var notify = SmtpDsnNotify.None;
        string? originalRecipientType = null;
        string? originalRecipient = null;
        var parameters = new ParameterReader(argument[grammar.Position..]);
        while (parameters.TryRead(out var keyword, out var value, out _))
        {
            if (!dsn)
            {
                return new InvalidCommand(SmtpVerb.Rcpt, SmtpReplies.UnknownParameter);
            }

            if (Ascii.EqualsIgnoreCase(keyword, "NOTIFY"u8))
            {
                // RFC 3461 4.1.
                if (notify != SmtpDsnNotify.None)
                {
                    return new InvalidCommand(SmtpVerb.Rcpt, SmtpReplies.DuplicateParameter);
                }

                if (!DsnGrammar.TryMakeNotifyValue(value, out notify))
                {
                    return new InvalidCommand(SmtpVerb.Rcpt, SmtpReplies.DsnNotifySyntax);
                }
            }
            else if (Ascii.EqualsIgnoreCase(keyword, "ORCPT"u8))
            {
                // RFC 3461 4.2.
                if (originalRecipientType is not null)
                {
                    return new InvalidCommand(SmtpVerb.Rcpt, SmtpReplies.DuplicateParameter);
                }

                var orcptError = DsnGrammar.TryMakeOriginalRecipient(value, smtpUtf8, out originalRecipientType, out originalRecipient);
                if (orcptError != DsnError.None)
                {
                    return new InvalidCommand(SmtpVerb.Rcpt, DsnErrorReply(orcptError, SmtpReplies.DsnOrcptSyntax, SmtpReplies.DsnOrcptTooLong));
                }
            }
            else if (Ascii.EqualsIgnoreCase(keyword, "RET"u8) || Ascii.EqualsIgnoreCase(keyword, "ENVID"u8))
            {
                return new InvalidCommand(SmtpVerb.Rcpt, SmtpReplies.DsnMailParameterOnRcpt);
            }
            else
            {
                return new InvalidCommand(SmtpVerb.Rcpt, SmtpReplies.UnknownParameter);
            }
        }

        if (parameters.Malformed)
        {
            return new InvalidCommand(SmtpVerb.Rcpt, SmtpReplies.RcptSyntax);
        }

        if (recipient.IsInternationalized && !smtpUtf8)
        {
            return new InvalidCommand(SmtpVerb.Rcpt, SmtpReplies.Utf8NeedsSmtpUtf8);
        }

        if (notify != SmtpDsnNotify.None || originalRecipientType is not null)
        {
            // A copy: the mailbox without parameters may be shared through the session's cache.
            recipient = recipient.WithDsn(new SmtpRecipientDsn(notify, originalRecipientType, originalRecipient));
        }

        return (cache?.Rcpt ?? new RcptCommand()).Set(recipient);
    }

    /// <summary><c>bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CR LF</c>; <c>chunk-size = 1*DIGIT</c>; <c>end-marker = "LAST"</c> (RFC 3030 section 2).</summary>
    private static SmtpCommand ParseBdat(ReadOnlySpan<byte> argument, CommandCache? cache)
    {
        var space = argument.IndexOf((byte)' ');
        var sizeText = space < 0 ? argument : argument[..space];
        var rest = space < 0 ? [] : argument[(space + 1)..];
        var isLast = false;
        if (!rest.IsEmpty)
        {
            if (!Ascii.EqualsIgnoreCase(rest, "LAST"u8))
            {
                return new InvalidCommand(SmtpVerb.Bdat, SmtpReplies.BdatSyntax);
            }

            isLast = true;
        }

        // 18 digits always fit a long; a larger chunk is beyond any size limit anyway.
        if (sizeText.IsEmpty || sizeText.Length > 18 || sizeText.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
        {
            return new InvalidCommand(SmtpVerb.Bdat, SmtpReplies.BdatSyntax);
        }

        return (cache?.Bdat ?? new BdatCommand()).Set(ParseSize(sizeText), isLast);
    }

    /// <summary>Removes <c>FROM:</c> or <c>TO:</c> (any case) and the spaces some clients put after the colon.</summary>
    private static bool TryStripKeyword(ref ReadOnlySpan<byte> argument, ReadOnlySpan<byte> keyword)
    {
        if (argument.Length < keyword.Length || !Ascii.EqualsIgnoreCase(argument[..keyword.Length], keyword))
        {
            return false;
        }

        argument = argument[keyword.Length..].TrimStart((byte)' ');
        return true;
    }

    private static long ParseSize(ReadOnlySpan<byte> digits)
    {
        long value = 0;
        foreach (var digit in digits)
        {
            var next = digit - '0';
            if (value > (long.MaxValue - next) / 10)
            {
                return long.MaxValue;
            }

            value = (value * 10) + next;
        }

        return value;
    }

    private static SmtpReply PathErrorReply(PathError error, SmtpReply syntax) => error switch
    {
        PathError.LocalPartTooLong => LocalPartTooLong,
        PathError.DomainTooLong => DomainTooLong,
        PathError.PathTooLong => PathTooLong,
        _ => syntax,
    };

    private static SmtpReply DsnErrorReply(DsnError error, SmtpReply syntax, SmtpReply tooLong) => error switch
    {
        DsnError.ControlCharacter => SmtpReplies.DsnControlCharacter,
        DsnError.TooLong => tooLong,
        _ => syntax,
    };

    private static readonly SmtpReply LocalPartTooLong = new(501, "5.1.3", "Local part too long (RFC 5321 4.5.3.1.1)");
    private static readonly SmtpReply DomainTooLong = new(501, "5.1.3", "Domain too long (RFC 5321 4.5.3.1.2)");
    private static readonly SmtpReply PathTooLong = new(501, "5.1.3", "Path too long (RFC 5321 4.5.3.1.3)");

    /// <summary>
    /// Reads <c>Mail-parameters = esmtp-param *(SP esmtp-param)</c>, where
    /// <c>esmtp-param = esmtp-keyword ["=" esmtp-value]</c>, <c>esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")</c>
    /// and <c>esmtp-value = 1*(%d33-60 / %d62-126)</c>, with UTF-8 values allowed by RFC 6531.
    /// </summary>
    private ref struct ParameterReader(ReadOnlySpan<byte> text)
    {
        private ReadOnlySpan<byte> _text = text;

        public bool Malformed { get; private set; }

        public bool TryRead(out ReadOnlySpan<byte> keyword, out ReadOnlySpan<byte> value, out bool malformed)
        {
            keyword = default;
            value = default;
            malformed = false;
            if (_text.IsEmpty)
            {
                return false;
            }

            // Parameters follow the path after at least one space.
            if (_text[0] != (byte)' ')
            {
                Malformed = malformed = true;
                return false;
            }

            _text = _text.TrimStart((byte)' ');
            var end = _text.IndexOf((byte)' ');
            var param = end < 0 ? _text : _text[..end];
            _text = end < 0 ? [] : _text[end..];

            var equals = param.IndexOf((byte)'=');
            keyword = equals < 0 ? param : param[..equals];
            value = equals < 0 ? [] : param[(equals + 1)..];
            if (keyword.IsEmpty || !char.IsAsciiLetterOrDigit((char)keyword[0]) || ContainsNonKeyword(keyword)
                || (equals >= 0 && (value.IsEmpty || ContainsNonValue(value))))
            {
                Malformed = malformed = true;
                return false;
            }

            return true;
        }

        private static bool ContainsNonKeyword(ReadOnlySpan<byte> keyword)
        {
            foreach (var c in keyword)
            {
                if (!char.IsAsciiLetterOrDigit((char)c) && c != '-')
                {
                    return true;
                }
            }

            return false;
        }

        private static bool ContainsNonValue(ReadOnlySpan<byte> value)
        {
            foreach (var c in value)
            {
                if (c is < 33 or (byte)'=' or 127)
                {
                    return true;
                }
            }

            return !System.Text.Unicode.Utf8.IsValid(value);
        }
    }
}
