namespace Smtpd;

/// <summary>
/// The fixed replies of the protocol, built once so that sending them allocates nothing.
/// </summary>
internal static class SmtpReplies
{
    public static readonly SmtpReply Ok = new(250, "2.0.0", "OK");
    public static readonly SmtpReply SenderOk = new(250, "2.1.0", "Sender OK");
    public static readonly SmtpReply RecipientOk = new(250, "2.1.5", "Recipient OK");
    public static readonly SmtpReply ResetOk = new(250, "2.0.0", "Reset OK");
    public static readonly SmtpReply MessageAccepted = new(250, "2.0.0", "Message accepted");
    public static readonly SmtpReply StartMailInput = new(354, null, "End data with <CR><LF>.<CR><LF>");
    public static readonly SmtpReply Bye = new(221, "2.0.0", "Bye");

    // RFC 5321 3.5.3: a server that will not verify answers 252 and accepts mail all the same.
    public static readonly SmtpReply CannotVerify = new(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
    public static readonly SmtpReply ExpandNotImplemented = new(502, "5.5.1", "EXPN not supported");
    public static readonly SmtpReply Help = new(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP (RFC 5321)");
    public static readonly SmtpReply LmtpHelp = new(214, "2.0.0", "Commands: LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP (RFC 2033)");

    public static readonly SmtpReply CommandUnrecognized = new(500, "5.5.2", "Command unrecognized");
    public static readonly SmtpReply LhloRequired = new(500, "5.5.1", "This is an LMTP server: use LHLO (RFC 2033 4.1)");
    public static readonly SmtpReply LineTooLong = new(500, "5.5.2", "Line too long (RFC 5321 4.5.3.1.4)");
    public static readonly SmtpReply TextLineTooLong = new(500, "5.5.2", "Line too long in message text (RFC 5321 4.5.3.1.6)");
    public static readonly SmtpReply NoArgumentsAllowed = new(501, "5.5.4", "Syntax error: no arguments allowed");
    public static readonly SmtpReply HeloRequiresDomain = new(501, "5.5.4", "Syntax error: domain name required");
    public static readonly SmtpReply MailSyntax = new(501, "5.5.4", "Syntax error: use MAIL FROM:<address>");
    public static readonly SmtpReply RcptSyntax = new(501, "5.5.4", "Syntax error: use RCPT TO:<address>");
    public static readonly SmtpReply BadSenderAddress = new(501, "5.1.7", "Bad sender address syntax");
    public static readonly SmtpReply BadRecipientAddress = new(501, "5.1.3", "Bad recipient address syntax");
    public static readonly SmtpReply InvalidCharacters = new(501, "5.5.2", "Syntax error: invalid characters in command");
    public static readonly SmtpReply VrfyRequiresArgument = new(501, "5.5.4", "Syntax error: VRFY needs an argument");
    public static readonly SmtpReply BdatSyntax = new(501, "5.5.4", "Syntax error: use BDAT <size> [LAST]; closing connection");
    public static readonly SmtpReply Utf8NeedsSmtpUtf8 = new(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter (RFC 6531)");
    public static readonly SmtpReply UnknownParameter = new(555, "5.5.4", "Unsupported MAIL or RCPT parameter");
    public static readonly SmtpReply BadParameterValue = new(501, "5.5.4", "Syntax error in parameter value");
    public static readonly SmtpReply DuplicateParameter = new(501, "5.5.4", "Syntax error: duplicate parameter");
    // RFC 3461 DSN parameters: a bad value is a syntax error (501); a parameter given to the wrong command is one that
    // command does not support (555, RFC 5321 4.1.1.11), as an unknown parameter is.
    public static readonly SmtpReply DsnRetSyntax = new(501, "5.5.4", "Syntax error in RET parameter: use RET=FULL or RET=HDRS (RFC 3461 4.3)");
    public static readonly SmtpReply DsnEnvidSyntax = new(501, "5.5.4", "Syntax error in ENVID parameter: xtext expected (RFC 3461 4.4)");
    public static readonly SmtpReply DsnEnvidTooLong = new(501, "5.5.4", "ENVID parameter longer than 100 characters (RFC 3461 4.4)");
    public static readonly SmtpReply DsnNotifySyntax = new(501, "5.5.4", "Syntax error in NOTIFY parameter: use NEVER or a list of SUCCESS, FAILURE, DELAY (RFC 3461 4.1)");
    public static readonly SmtpReply DsnOrcptSyntax = new(501, "5.5.4", "Syntax error in ORCPT parameter: use ORCPT=addr-type;xtext (RFC 3461 4.2)");
    public static readonly SmtpReply DsnOrcptTooLong = new(501, "5.5.4", "ORCPT address longer than 500 characters (RFC 3461 4.2)");
    public static readonly SmtpReply DsnControlCharacter = new(501, "5.5.4", "DSN parameter decodes to a control character such as CR, LF or NUL (RFC 3461 4)");
    public static readonly SmtpReply DsnRcptParameterOnMail = new(555, "5.5.4", "NOTIFY and ORCPT are RCPT parameters (RFC 3461 4)");
    public static readonly SmtpReply DsnMailParameterOnRcpt = new(555, "5.5.4", "RET and ENVID are MAIL parameters (RFC 3461 4)");

    public static readonly SmtpReply BinaryMimeNeedsBdat = new(503, "5.5.1", "BODY=BINARYMIME requires BDAT (RFC 3030 section 3)");

    public static readonly SmtpReply SizeExceededAtMail = new(552, "5.3.4", "Message size exceeds fixed maximum message size");
    public static readonly SmtpReply SizeExceeded = new(552, "5.3.4", "Message size exceeds fixed maximum message size");
    public static readonly SmtpReply TooManyRecipients = new(452, "4.5.3", "Too many recipients");
    public static readonly SmtpReply BareLineEnding = new(550, "5.6.0", "Message contains bare CR or LF; lines must end with CRLF (RFC 5321 2.3.8)");

    // RFC 5321 4.1.1.4: only CRLF.CRLF ends the data. A lone dot next to a bare CR or LF may be a client's end of data
    // or a smuggled one; the octets after it cannot be trusted, and 3.8 lets a server close only with a 421.
    public static readonly SmtpReply BareEndMarker = new(421, "4.5.0", "Lone dot next to a bare CR or LF; end data with <CR><LF>.<CR><LF> (RFC 5321 4.1.1.4); closing connection");

    public static readonly SmtpReply SenderRejected = new(550, "5.7.1", "Sender rejected");
    public static readonly SmtpReply RecipientRejected = new(550, "5.7.1", "Recipient rejected");
    public static readonly SmtpReply DeliveryRejected = new(554, "5.6.0", "Message rejected");
    public static readonly SmtpReply CommandRejected = new(550, "5.7.1", "Command rejected");
    public static readonly SmtpReply LocalError = new(451, "4.3.0", "Requested action aborted: local error in processing");

    // RFC 3207 and RFC 4954.
    public static readonly SmtpReply ReadyToStartTls = new(220, "2.0.0", "Ready to start TLS");
    public static readonly SmtpReply TlsNotAvailable = new(502, "5.5.1", "STARTTLS not available");
    public static readonly SmtpReply AlreadySecure = new(503, "5.5.1", "Bad sequence of commands: TLS already active");
    public static readonly SmtpReply MustStartTls = new(530, "5.7.0", "Must issue a STARTTLS command first");
    public static readonly SmtpReply AuthNotAvailable = new(502, "5.5.1", "AUTH not available");
    public static readonly SmtpReply AlreadyAuthenticated = new(503, "5.5.1", "Bad sequence of commands: already authenticated");
    public static readonly SmtpReply EncryptionRequired = new(538, "5.7.11", "Encryption required for requested authentication mechanism");
    public static readonly SmtpReply UnknownMechanism = new(504, "5.5.4", "Unrecognized authentication type");
    public static readonly SmtpReply AuthSyntax = new(501, "5.5.4", "Syntax error: use AUTH mechanism [initial-response]");
    public static readonly SmtpReply AuthBadBase64 = new(501, "5.5.2", "Cannot decode response: invalid base64");
    public static readonly SmtpReply AuthMalformed = new(501, "5.5.2", "Malformed authentication response");
    public static readonly SmtpReply AuthBadIdentity = new(501, "5.5.2", "Identity must not contain CR, LF or NUL");
    public static readonly SmtpReply AuthCancelled = new(501, "5.0.0", "Authentication cancelled");
    public static readonly SmtpReply AuthLineTooLong = new(500, "5.5.6", "Authentication exchange line too long (RFC 4954 4)");
    public static readonly SmtpReply AuthFailed = new(535, "5.7.8", "Authentication credentials invalid");
    public static readonly SmtpReply AuthSucceeded = new(235, "2.7.0", "Authentication successful");
    public static readonly SmtpReply AuthRequired = new(530, "5.7.0", "Authentication required");
    public static readonly SmtpReply TooManyAuthFailures = new(421, "4.7.0", "Too many authentication failures, closing connection");

    public static readonly SmtpReply ForbiddenProtocol = new(421, "4.7.0", "Not an SMTP command: another protocol on the SMTP port; closing connection");
    public static readonly SmtpReply TooManyErrors = new(421, "4.7.0", "Too many errors, closing connection");
    public static readonly SmtpReply TooManyJunkCommands = new(421, "4.7.0", "Too many commands without a message, closing connection");
    public static readonly SmtpReply DataRateTooLow = new(421, "4.4.2", "Data arriving too slowly, closing connection");
    public static readonly SmtpReply Timeout = new(421, "4.4.2", "Timeout, closing connection");
    public static readonly SmtpReply ShuttingDown = new(421, "4.3.2", "Service shutting down, closing connection");
    public static readonly SmtpReply TooManySessions = new(421, "4.7.0", "Too many connections, try again later");
    public static readonly SmtpReply TooManySessionsFromClient = new(421, "4.7.0", "Too many connections from your address, try again later");
}
