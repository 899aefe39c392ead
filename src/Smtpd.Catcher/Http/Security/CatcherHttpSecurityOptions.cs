using Microsoft.AspNetCore.Http;

namespace Smtpd.Catcher.Http.Security;

/// <summary>
/// The security settings of the catcher's HTTP surface: who may log in, which <c>Host</c> names and CORS origins are
/// trusted, and the caps on request size (the API's own limits, such as the page size, are in <see cref="CatcherHttpOptions"/>). <see cref="CatcherSecurityApplicationBuilderExtensions.UseCatcherSecurity"/>
/// takes a validated snapshot of them. Every limit documents its default and why; the setters refuse values that
/// would turn a limit off by accident.
/// </summary>
/// <remarks>
/// The smtpd tool maps its flags onto this type: <c>--ui-auth USER:PASS</c> to <see cref="AddUser"/>,
/// <c>SMTPD_UI_AUTH</c> to <see cref="AddUsers"/>, <c>--ui-auth-file FILE</c> to <see cref="AddHtpasswdFile"/>,
/// <c>--http-host NAME</c> to <see cref="AllowedHosts"/> and <c>--api-cors ORIGIN</c> to <see cref="AddCorsOrigins"/>.
/// docs/api.md ("Security of the HTTP surface") describes every rule.
/// </remarks>
public sealed class CatcherHttpSecurityOptions
{
    /// <summary>The realm in the <c>WWW-Authenticate: Basic realm="smtpd"</c> challenge (RFC 7617 section 2).</summary>
    public const string Realm = "smtpd";

    /// <summary>
    /// The default <see cref="MaxRequestBodySize"/>, 30,000,000 bytes: Kestrel's own default
    /// (<c>KestrelServerLimits.MaxRequestBodySize</c>), so the catcher is no more permissive than any ASP.NET Core app.
    /// A <c>POST /api/v1/send</c> carries attachments in base64 (4/3 of their size), so this fits about 22 MB of
    /// attachments, close to the 25 MB that Gmail and Exchange Online accept.
    /// </summary>
    public const long DefaultMaxRequestBodySize = 30_000_000;

    /// <summary>
    /// The default <see cref="MaxQueryStringLength"/>, 4096 characters: half of Kestrel's 8 KiB request-line limit,
    /// which leaves room for the path, and far more than a search of a few dozen terms needs; IDs to act on travel
    /// in JSON bodies, not in the query. It bounds the work of the search parser per request.
    /// </summary>
    public const int DefaultMaxQueryStringLength = 4096;

    private readonly HttpBasicUsers _users = new();

    /// <summary>
    /// The largest request body, in bytes. A larger <c>Content-Length</c> gets <c>413</c> before any endpoint runs; a
    /// chunked body that grows past it fails the endpoint's read, and the request gets <c>413</c> as well. Default
    /// <see cref="DefaultMaxRequestBodySize"/>. Valid: 1 or more.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero or negative.</exception>
    public long MaxRequestBodySize
    {
        get;
        set => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxRequestBodySize), value, "MaxRequestBodySize must be 1 byte or more.");
    } = DefaultMaxRequestBodySize;

    /// <summary>
    /// The longest query string, in characters after the <c>?</c>, as sent (still percent-encoded). A longer one gets
    /// <c>414 URI Too Long</c> before any endpoint runs. Default <see cref="DefaultMaxQueryStringLength"/>. Valid: 1
    /// or more.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero or negative.</exception>
    public int MaxQueryStringLength
    {
        get;
        set => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxQueryStringLength), value, "MaxQueryStringLength must be 1 character or more.");
    } = DefaultMaxQueryStringLength;

    /// <summary>
    /// Host names a request may name in its <c>Host</c> header besides <c>localhost</c> and IP literals
    /// (<c>--http-host</c>): the name a reverse proxy forwards, or a Docker Compose service name such as
    /// <c>smtpd</c>. Compared without case and without a trailing dot. <c>*</c> accepts every name and so turns
    /// the DNS-rebinding defence off. Empty by default.
    /// </summary>
    public IList<string> AllowedHosts { get; } = [];

    /// <summary>
    /// Origins allowed to call the API from a browser (<c>--api-cors</c>), as <c>scheme://host[:port]</c>; <c>*</c>
    /// allows any origin (without credentials, as the Fetch standard requires). Empty by default: CORS is off, so no
    /// page on another origin can read an answer, and mutating requests from other origins are refused.
    /// </summary>
    public IList<string> CorsOrigins { get; } = [];

    /// <summary>
    /// Paths (below the path base) whose responses the catcher's own pages may frame: they get
    /// <c>X-Frame-Options: SAMEORIGIN</c> and, unless the endpoint sets its own, the
    /// <see cref="CatcherContentSecurityPolicy.View"/> policy. Every other response gets <c>X-Frame-Options: DENY</c>.
    /// Default: <c>/view</c>, where <c>/view/{ID}.html</c> serves message HTML.
    /// </summary>
    public IList<PathString> FramablePaths { get; } = [new PathString("/view")];

    /// <summary>Whether HTTP Basic authentication is required: true once a user has been added.</summary>
    public bool AuthenticationEnabled => _users.Count > 0;

    /// <summary>The users added so far, in the order given.</summary>
    public IReadOnlyList<string> UserNames => _users.Names;

    internal HttpBasicUsers Users => _users;

    /// <summary>
    /// Adds a user from a <c>USER:PASS</c> value (<c>--ui-auth</c>). The user name ends at the first colon, as
    /// RFC 7617 section 2 requires; the password is the rest and may contain colons and spaces.
    /// </summary>
    /// <param name="userColonPassword">The value, e.g. <c>alice:s3cret</c>.</param>
    /// <exception cref="ArgumentException">No colon, an empty user or password, a control character, or a user given twice.</exception>
    public void AddUser(string userColonPassword)
    {
        ArgumentNullException.ThrowIfNull(userColonPassword);
        var colon = userColonPassword.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == userColonPassword.Length - 1)
        {
            throw new ArgumentException("A UI user must be given as USER:PASS, with neither part empty.", nameof(userColonPassword));
        }

        _users.AddPassword(userColonPassword[..colon], userColonPassword[(colon + 1)..]);
    }

    /// <summary>
    /// Adds the users of a whitespace-separated list of <c>USER:PASS</c> values, the format of Mailpit's
    /// <c>MP_UI_AUTH</c> and so of <c>SMTPD_UI_AUTH</c>. A password given this way cannot contain whitespace.
    /// </summary>
    /// <param name="list">The list, e.g. <c>alice:one bob:two</c>.</param>
    /// <exception cref="ArgumentException">A value that <see cref="AddUser"/> refuses.</exception>
    public void AddUsers(string list)
    {
        ArgumentNullException.ThrowIfNull(list);
        foreach (var value in list.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            AddUser(value);
        }
    }

    /// <summary>
    /// Adds the users of an htpasswd file (<c>--ui-auth-file</c>), as Mailpit's <c>--ui-auth-file</c> reads it. Only
    /// bcrypt hashes (<c>$2y$</c>, <c>$2a$</c>, <c>$2b$</c>, as <c>htpasswd -B</c> writes) are accepted; blank
    /// lines and lines that start with <c>#</c> are skipped.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <exception cref="FormatException">A line that is not <c>user:bcrypt-hash</c>; the message names the file and line.</exception>
    /// <exception cref="ArgumentException">A user given twice.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public void AddHtpasswdFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var reader = File.OpenText(path);
        AddHtpasswd(reader, path);
    }

    /// <summary>Adds the users of htpasswd text; see <see cref="AddHtpasswdFile"/>.</summary>
    /// <param name="reader">The text.</param>
    /// <param name="sourceName">What error messages call the source, usually the file's path.</param>
    /// <exception cref="FormatException">A line that is not <c>user:bcrypt-hash</c>; the message names the source and line.</exception>
    /// <exception cref="ArgumentException">A user given twice.</exception>
    public void AddHtpasswd(TextReader reader, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sourceName);
        foreach (var entry in Htpasswd.Parse(reader, sourceName))
        {
            _users.AddBcrypt(entry.User, entry.Hash);
        }
    }

    /// <summary>
    /// Adds the origins of a comma- or whitespace-separated list to <see cref="CorsOrigins"/>; Mailpit's
    /// <c>--api-cors</c> takes a comma-separated list, so either form works for <c>--api-cors</c>.
    /// </summary>
    /// <param name="list">The origins, e.g. <c>http://localhost:3000,https://app.test</c>.</param>
    /// <exception cref="ArgumentException">An origin that is not <c>*</c> nor <c>http(s)://host[:port]</c>.</exception>
    public void AddCorsOrigins(string list)
    {
        ArgumentNullException.ThrowIfNull(list);
        foreach (var value in list.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            CorsOrigins.Add(CatcherHttpSecurityPolicy.NormalizeOrigin(value));
        }
    }

    /// <summary>Checks every setting and throws for the first bad one; <c>UseCatcherSecurity</c> calls it too.</summary>
    /// <exception cref="ArgumentException">A bad allowed host, CORS origin or framable path; the message names it.</exception>
    public void Validate() => _ = new CatcherHttpSecurityPolicy(this);
}
