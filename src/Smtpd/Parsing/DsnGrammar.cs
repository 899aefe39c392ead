using System.Text;

namespace Smtpd.Parsing;

/// <summary>Why a DSN parameter value failed to parse.</summary>
internal enum DsnError
{
    None,
    Syntax,

    /// <summary>The encoding decodes to a control character: a CR, LF or NUL smuggled past the command-line checks.</summary>
    ControlCharacter,
    TooLong,
}

/// <summary>
/// The values of the RFC 3461 parameters (<c>RET</c> and <c>ENVID</c> on MAIL, <c>NOTIFY</c> and <c>ORCPT</c> on
/// RCPT) and the xtext encoding they use, with RFC 6533's <c>utf-8</c> address type for ORCPT. Each method is named
/// after the ABNF rule it matches and quotes it. The methods are pure functions of the value octets.
/// </summary>
/// <remarks>
/// The command line has already been checked for control characters (RFC 5321 2.3.8), but xtext can encode any
/// octet (<c>+0D</c> is a CR) and RFC 6533 any code point (<c>\x{A}</c> is a LF). The decoded values end up in
/// callbacks, the CLI store and, in an application that sends notifications, in the header fields of a DSN
/// (RFC 3464 <c>Original-Envelope-Id</c>, <c>Original-Recipient</c>), so a decoded control character is refused
/// rather than passed on.
/// </remarks>
internal static class DsnGrammar
{
    /// <summary>RFC 3461 4.4: the longest <c>ENVID</c>, in characters, counted after xtext decoding.</summary>
    public const int MaxEnvelopeIdLength = 100;

    /// <summary>RFC 3461 4.2: the longest <c>ORCPT</c> original address, in characters, counted after decoding.</summary>
    public const int MaxOriginalRecipientLength = 500;

    /// <summary><c>ret-value = "FULL" / "HDRS"</c> (RFC 3461 4.3), in any letter case.</summary>
    public static bool TryMakeRetValue(ReadOnlySpan<byte> value, out SmtpDsnReturn ret)
    {
        ret = Ascii.EqualsIgnoreCase(value, "FULL"u8) ? SmtpDsnReturn.Full
            : Ascii.EqualsIgnoreCase(value, "HDRS"u8) ? SmtpDsnReturn.Headers
            : SmtpDsnReturn.None;
        return ret != SmtpDsnReturn.None;
    }

    /// <summary>
    /// <c>notify-esmtp-value = "NEVER" / 1#notify-list-element</c>;
    /// <c>notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"</c> (RFC 3461 4.1), in any letter case.
    /// </summary>
    /// <remarks>
    /// NEVER stands alone, no element may repeat, and the list has no empty elements: RFC 822's <c>#</c> rule would
    /// allow <c>SUCCESS,,DELAY</c>, but no client sends it and refusing it keeps the value unambiguous.
    /// </remarks>
    public static bool TryMakeNotifyValue(ReadOnlySpan<byte> value, out SmtpDsnNotify notify)
    {
        if (Ascii.EqualsIgnoreCase(value, "NEVER"u8))
        {
            notify = SmtpDsnNotify.Never;
            return true;
        }

        notify = SmtpDsnNotify.None;
        while (true)
        {
            var comma = value.IndexOf((byte)',');
            var element = comma < 0 ? value : value[..comma];
            var flag = Ascii.EqualsIgnoreCase(element, "SUCCESS"u8) ? SmtpDsnNotify.Success
                : Ascii.EqualsIgnoreCase(element, "FAILURE"u8) ? SmtpDsnNotify.Failure
                : Ascii.EqualsIgnoreCase(element, "DELAY"u8) ? SmtpDsnNotify.Delay
                : SmtpDsnNotify.None;
            if (flag == SmtpDsnNotify.None || (notify & flag) != 0)
            {
                notify = SmtpDsnNotify.None;
                return false;
            }

            notify |= flag;
            if (comma < 0)
            {
                return true;
            }

            value = value[(comma + 1)..];
        }
    }

    /// <summary><c>envid-parameter = "ENVID=" xtext</c> (RFC 3461 4.4); the value must not be empty.</summary>
    public static DsnError TryMakeEnvelopeId(ReadOnlySpan<byte> value, out string? envelopeId)
    {
        envelopeId = null;
        if (value.IsEmpty)
        {
            return DsnError.Syntax;
        }

        Span<char> buffer = stackalloc char[MaxEnvelopeIdLength];
        var error = TryDecodeXtext(value, buffer, out var length);
        if (error == DsnError.None)
        {
            envelopeId = new string(buffer[..length]);
        }

        return error;
    }

    /// <summary>
    /// <c>original-recipient-address = addr-type ";" xtext</c>; <c>addr-type = atom</c> (RFC 3461 4.2), and for the
    /// <c>utf-8</c> type <c>utf-8-enc-addr = utf-8-addr-xtext / utf-8-addr-unitext</c> (RFC 6533 3).
    /// </summary>
    /// <remarks>
    /// Any address type is accepted, since RFC 3461 4.2 has a server pass on an ORCPT it does not interpret; only
    /// <c>utf-8</c> changes the encoding. The raw UTF-8 of <c>utf-8-addr-unitext</c> is accepted only in a
    /// transaction whose MAIL carried SMTPUTF8 (RFC 6533 3).
    /// </remarks>
    /// <param name="value">The esmtp-value after <c>ORCPT=</c>.</param>
    /// <param name="smtpUtf8">Whether the transaction's MAIL carried SMTPUTF8.</param>
    /// <param name="addressType">The address type as written.</param>
    /// <param name="address">The decoded original address.</param>
    public static DsnError TryMakeOriginalRecipient(ReadOnlySpan<byte> value, bool smtpUtf8, out string? addressType, out string? address)
    {
        addressType = null;
        address = null;
        var semicolon = value.IndexOf((byte)';');
        if (semicolon <= 0 || semicolon == value.Length - 1 || !IsAtom(value[..semicolon]))
        {
            return DsnError.Syntax;
        }

        var type = value[..semicolon];
        var text = value[(semicolon + 1)..];
        Span<char> buffer = stackalloc char[MaxOriginalRecipientLength];
        int length;
        var error = Ascii.EqualsIgnoreCase(type, "utf-8"u8)
            ? TryDecodeUtf8AddressText(text, smtpUtf8, buffer, out length)
            : TryDecodeXtext(text, buffer, out length);
        if (error == DsnError.None)
        {
            addressType = Encoding.ASCII.GetString(type);
            address = new string(buffer[..length]);
        }

        return error;
    }

    /// <summary>
    /// <c>xtext = *( xchar / hexchar )</c>; <c>xchar</c> is any octet from 33 to 126 but <c>"+"</c> and <c>"="</c>;
    /// <c>hexchar = "+" 2(%x30-39 / %x41-46)</c>, two upper-case hex digits (RFC 3461 4). The decoded text must be
    /// printable US-ASCII (RFC 3461 4.2 and 4.4); the space is allowed, control characters are refused.
    /// </summary>
    private static DsnError TryDecodeXtext(ReadOnlySpan<byte> text, Span<char> decoded, out int length)
    {
        length = 0;
        var i = 0;
        while (i < text.Length)
        {
            int c = text[i];
            if (c == '+')
            {
                var high = i + 2 < text.Length ? UpperHexValue(text[i + 1]) : -1;
                var low = high >= 0 ? UpperHexValue(text[i + 2]) : -1;
                if (low < 0)
                {
                    return DsnError.Syntax;
                }

                c = (high << 4) | low;
                if (c is < 0x20 or 0x7f)
                {
                    return DsnError.ControlCharacter;
                }

                if (c > 0x7f)
                {
                    return DsnError.Syntax;
                }

                i += 3;
            }
            else if (c is >= 33 and <= 126 && c != '=')
            {
                i++;
            }
            else
            {
                return DsnError.Syntax;
            }

            if (length == decoded.Length)
            {
                return DsnError.TooLong;
            }

            decoded[length++] = (char)c;
        }

        return DsnError.None;
    }

    /// <summary>
    /// <c>utf-8-addr-xtext = 1*(QCHAR / EmbeddedUnicodeChar)</c>, <c>utf-8-addr-unitext = 1*(QUCHAR / EmbeddedUnicodeChar)</c>;
    /// <c>QCHAR = %x21-2a / %x2c-3c / %x3e-5b / %x5d-7e</c>; <c>QUCHAR = QCHAR / UTF8-2 / UTF8-3 / UTF8-4</c>;
    /// <c>EmbeddedUnicodeChar = %x5C.78 "{" HEXPOINT "}"</c> (RFC 6533 3).
    /// </summary>
    /// <remarks>
    /// HEXPOINT is read as 1 to 6 hex digits without a leading zero naming a Unicode scalar value; RFC 6533's ABNF
    /// for it spells out the same ranges digit by digit. Control characters (C0, DEL, C1) and the line and paragraph
    /// separators are refused, whether escaped or raw.
    /// </remarks>
    private static DsnError TryDecodeUtf8AddressText(ReadOnlySpan<byte> text, bool allowUtf8, Span<char> decoded, out int length)
    {
        length = 0;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            Rune rune;
            if (c == '\\')
            {
                var close = text.Length - i > 3 && text[i + 1] == 'x' && text[i + 2] == '{' ? text[(i + 3)..].IndexOf((byte)'}') : -1;
                if (close is < 1 or > 6 || text[i + 3] == '0' || !TryParseHex(text.Slice(i + 3, close), out var scalar) || !Rune.TryCreate(scalar, out rune))
                {
                    return DsnError.Syntax;
                }

                i += 3 + close + 1;
            }
            else if (c < 0x80)
            {
                if (c is < 0x21 or > 0x7e or (byte)'+' or (byte)'=')
                {
                    return DsnError.Syntax;
                }

                rune = new Rune(c);
                i++;
            }
            else
            {
                if (!allowUtf8 || Rune.DecodeFromUtf8(text[i..], out rune, out var consumed) != System.Buffers.OperationStatus.Done)
                {
                    return DsnError.Syntax;
                }

                i += consumed;
            }

            if (Rune.IsControl(rune) || Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator)
            {
                return DsnError.ControlCharacter;
            }

            if (!rune.TryEncodeToUtf16(decoded[length..], out var written))
            {
                return DsnError.TooLong;
            }

            length += written;
        }

        return DsnError.None;
    }

    /// <summary>RFC 5322 3.2.3 <c>atom</c> without folding white space: <c>1*atext</c>, ASCII only.</summary>
    private static bool IsAtom(ReadOnlySpan<byte> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiLetterOrDigit((char)c) && !"!#$%&'*+-/=?^_`{|}~"u8.Contains(c))
            {
                return false;
            }
        }

        return !text.IsEmpty;
    }

    /// <summary>An xtext hex digit: <c>0-9</c> or upper-case <c>A-F</c> only (RFC 3461 4).</summary>
    private static int UpperHexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>Hex digits in either case (ABNF's <c>HEXDIG</c> is case-insensitive, RFC 5234 2.3).</summary>
    private static bool TryParseHex(ReadOnlySpan<byte> digits, out int value)
    {
        value = 0;
        foreach (var c in digits)
        {
            var digit = UpperHexValue((byte)(c is >= (byte)'a' and <= (byte)'f' ? c - 0x20 : c));
            if (digit < 0)
            {
                return false;
            }

            value = (value << 4) | digit;
        }

        return true;
    }
}
