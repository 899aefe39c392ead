namespace Smtpd.Catcher.Search;

/// <summary>
/// One term of a parsed search query. Terms are ANDed; a negated term (written with a leading <c>-</c> or
/// <c>!</c>) matches exactly the messages its positive form does not. The hierarchy is closed: one sealed record per
/// kind of term, so the compiler's switch over them is exhaustive.
/// </summary>
/// <param name="Position">The zero-based offset of the term (of its <c>-</c> or <c>!</c> when negated) in the query.</param>
/// <param name="Negated">Whether the term was written with a leading <c>-</c> or <c>!</c>.</param>
internal abstract record SearchTerm(int Position, bool Negated);

/// <summary>Free text: a word or a "quoted phrase", matched against the subject, every address and the body.</summary>
/// <param name="Text">The text, quotes removed.</param>
/// <param name="Quoted">Whether the term began with a double quote, so no <c>word:</c> prefix was looked for.</param>
/// <param name="Position">The zero-based offset of the term in the query.</param>
/// <param name="Negated">Whether the term is negated.</param>
internal sealed record TextTerm(int Position, bool Negated, string Text, bool Quoted) : SearchTerm(Position, Negated);

/// <summary>Which addresses an <see cref="AddressTerm"/> looks at.</summary>
internal enum AddressField
{
    /// <summary><c>from:</c> the From header and the envelope sender (MAIL FROM).</summary>
    From,

    /// <summary><c>to:</c> the To header and every envelope recipient (RCPT TO).</summary>
    To,

    /// <summary><c>cc:</c> the Cc header.</summary>
    Cc,

    /// <summary><c>bcc:</c> the Bcc header, and envelope recipients named in neither To nor Cc.</summary>
    Bcc,

    /// <summary><c>reply-to:</c> the Reply-To header.</summary>
    ReplyTo,

    /// <summary><c>addressed:</c> any of the above.</summary>
    Addressed,
}

/// <summary><c>from:</c>, <c>to:</c>, <c>cc:</c>, <c>bcc:</c>, <c>reply-to:</c>, <c>addressed:</c>: a substring of a name or address.</summary>
/// <param name="Field">Which addresses.</param>
/// <param name="Value">The substring, without surrounding angle brackets.</param>
/// <param name="Position">The zero-based offset of the term in the query.</param>
/// <param name="Negated">Whether the term is negated.</param>
internal sealed record AddressTerm(int Position, bool Negated, AddressField Field, string Value) : SearchTerm(Position, Negated);

/// <summary><c>subject:</c> a substring of the subject.</summary>
/// <param name="Value">The substring.</param>
/// <param name="Position">The zero-based offset of the term in the query.</param>
/// <param name="Negated">Whether the term is negated.</param>
internal sealed record SubjectTerm(int Position, bool Negated, string Value) : SearchTerm(Position, Negated);

/// <summary><c>message-id:</c> a substring of the Message-ID, angle brackets removed.</summary>
/// <param name="Value">The substring.</param>
/// <param name="Position">The zero-based offset of the term in the query.</param>
/// <param name="Negated">Whether the term is negated.</param>
internal sealed record MessageIdTerm(int Position, bool Negated, string Value) : SearchTerm(Position, Negated);

/// <summary><c>tag:</c> the message carries this tag (letter case ignored).</summary>
/// <param name="Tag">The tag.</param>
/// <param name="Position">The zero-based offset of the term in the query.</param>
/// <param name="Negated">Whether the term is negated.</param>
internal sealed record TagTerm(int Position, bool Negated, string Tag) : SearchTerm(Position, Negated);

/// <summary>The values of <c>is:</c>.</summary>
internal enum MessageState
{
    /// <summary><c>is:read</c>.</summary>
    Read,

    /// <summary><c>is:unread</c>.</summary>
    Unread,

    /// <summary><c>is:tagged</c>: at least one tag.</summary>
    Tagged,
}

/// <summary><c>is:read</c>, <c>is:unread</c>, <c>is:tagged</c>.</summary>
/// <param name="State">Which state.</param>
/// <param name="Position">The zero-based offset of the term in the query.</param>
/// <param name="Negated">Whether the term is negated.</param>
internal sealed record StateTerm(int Position, bool Negated, MessageState State) : SearchTerm(Position, Negated);

/// <summary>The values of <c>has:</c>.</summary>
internal enum PartKind
{
    /// <summary><c>has:attachment</c> (or <c>has:attachments</c>).</summary>
    Attachment,

    /// <summary><c>has:inline</c> (or <c>has:inlines</c>): an inline part that is not the body, such as a <c>cid:</c> image.</summary>
    Inline,
}

/// <summary><c>has:attachment</c>, <c>has:inline</c>.</summary>
/// <param name="Kind">Which kind of part.</param>
/// <param name="Position">The zero-based offset of the term in the query.</param>
/// <param name="Negated">Whether the term is negated.</param>
internal sealed record HasTerm(int Position, bool Negated, PartKind Kind) : SearchTerm(Position, Negated);

/// <summary>Which side of a date a <see cref="DateTerm"/> keeps.</summary>
internal enum DateBound
{
    /// <summary><c>before:</c> received strictly before the instant.</summary>
    Before,

    /// <summary><c>after:</c> received at or after the instant.</summary>
    After,
}

/// <summary><c>before:</c>, <c>after:</c>: when the message was received.</summary>
/// <param name="Bound">Which side.</param>
/// <param name="Date">The date as written; its time zone, if it names none, is the caller's.</param>
/// <param name="Position">The zero-based offset of the term in the query.</param>
/// <param name="Negated">Whether the term is negated.</param>
internal sealed record DateTerm(int Position, bool Negated, DateBound Bound, SearchDate Date) : SearchTerm(Position, Negated);

/// <summary>Which side of a size a <see cref="SizeTerm"/> keeps.</summary>
internal enum SizeBound
{
    /// <summary><c>larger:</c> strictly larger than the size.</summary>
    Larger,

    /// <summary><c>smaller:</c> strictly smaller than the size.</summary>
    Smaller,
}

/// <summary><c>larger:</c>, <c>smaller:</c>: the size of the raw message in octets.</summary>
/// <param name="Bound">Which side.</param>
/// <param name="Bytes">The size in octets.</param>
/// <param name="Position">The zero-based offset of the term in the query.</param>
/// <param name="Negated">Whether the term is negated.</param>
internal sealed record SizeTerm(int Position, bool Negated, SizeBound Bound, long Bytes) : SearchTerm(Position, Negated);

/// <summary><c>header:Name=value</c> (a substring of a header field's value) or <c>header:Name</c> (the field is present).</summary>
/// <param name="Name">The field name, as written (compared without regard to letter case, RFC 5322 1.2.2).</param>
/// <param name="Value">The substring of the unfolded, decoded value; <see langword="null"/> when only presence is asked.</param>
/// <param name="Position">The zero-based offset of the term in the query.</param>
/// <param name="Negated">Whether the term is negated.</param>
internal sealed record HeaderTerm(int Position, bool Negated, string Name, string? Value) : SearchTerm(Position, Negated);
