namespace Smtpd;

/// <summary>The BODY parameter of MAIL.</summary>
public enum SmtpBodyType
{
    /// <summary>No BODY parameter, or <c>BODY=7BIT</c>.</summary>
    SevenBit,

    /// <summary><c>BODY=8BITMIME</c> (RFC 6152).</summary>
    EightBitMime,

    /// <summary><c>BODY=BINARYMIME</c> (RFC 3030 section 3): the content must come with BDAT.</summary>
    BinaryMime,
}
