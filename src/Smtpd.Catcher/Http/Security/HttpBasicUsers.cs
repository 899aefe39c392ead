using System.Security.Cryptography;
using System.Text;

namespace Smtpd.Catcher.Http.Security;

/// <summary>
/// The users HTTP Basic accepts, each with a password given in clear (<c>--ui-auth</c>) or a bcrypt hash
/// (<c>--ui-auth-file</c>). Checks take the same time whatever the password, and nearly the same whether the user exists.
/// </summary>
/// <remarks>
/// Clear passwords are kept only as an HMAC-SHA-256 under a key drawn at startup, and compared with
/// <see cref="CryptographicOperations.FixedTimeEquals"/>, so neither the length nor the first differing byte shows in
/// the timing. bcrypt costs tens of milliseconds a check by design, and a browser sends the credentials with every
/// request, so after a bcrypt hash verifies, the HMAC of that password is remembered for its user and the next
/// request with the same password is checked against it (the idea of Apache's <c>mod_authn_socache</c>); a wrong
/// password always pays the full bcrypt cost. A user that does not exist is checked against a dummy hash of the
/// same cost, so the timing does not tell which user names exist.
/// </remarks>
internal sealed class HttpBasicUsers
{
    private readonly byte[] _key;
    private readonly Dictionary<string, Entry> _entries;
    private readonly List<string> _names;
    private readonly Lazy<string> _dummyBcrypt;
    private readonly byte[] _dummyDigest;

    public HttpBasicUsers()
        : this(RandomNumberGenerator.GetBytes(32), new Dictionary<string, Entry>(StringComparer.Ordinal), [])
    {
    }

    private HttpBasicUsers(byte[] key, Dictionary<string, Entry> entries, List<string> names)
    {
        _key = key;
        _entries = entries;
        _names = names;
        _dummyDigest = HMACSHA256.HashData(_key, RandomNumberGenerator.GetBytes(16));
        _dummyBcrypt = new Lazy<string>(
            () => BCrypt.Net.BCrypt.HashPassword(Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)), HighestBcryptCost()),
            LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public int Count => _entries.Count;

    public IReadOnlyList<string> Names => _names;

    public void AddPassword(string user, string password)
    {
        CheckText(user, "user name");
        CheckText(password, "password");
        Add(user, new Entry(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(password)), null));
    }

    public void AddBcrypt(string user, string hash)
    {
        CheckText(user, "user name");
        if (!Htpasswd.IsWellFormedBcrypt(hash))
        {
            throw new ArgumentException($"The bcrypt hash for UI user '{user}' is malformed.", nameof(hash));
        }

        Add(user, new Entry(null, hash));
    }

    /// <summary>A copy that later additions to this instance do not change, for the middleware to read without locks.</summary>
    public HttpBasicUsers Snapshot() => new(_key, new Dictionary<string, Entry>(_entries, StringComparer.Ordinal), [.. _names]);

    /// <summary>Whether the user exists and the password is theirs.</summary>
    public bool Verify(string user, string password)
    {
        var digest = HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(password));
        if (!_entries.TryGetValue(user, out var entry))
        {
            if (_entries.Values.Any(e => e.BcryptHash is not null))
            {
                _ = BCrypt.Net.BCrypt.Verify(password, _dummyBcrypt.Value);
            }
            else
            {
                _ = CryptographicOperations.FixedTimeEquals(digest, _dummyDigest);
            }

            return false;
        }

        if (entry.PasswordDigest is { } expected)
        {
            return CryptographicOperations.FixedTimeEquals(digest, expected);
        }

        if (Volatile.Read(ref entry.VerifiedDigest) is { } verified && CryptographicOperations.FixedTimeEquals(digest, verified))
        {
            return true;
        }

        if (!BCrypt.Net.BCrypt.Verify(password, entry.BcryptHash))
        {
            return false;
        }

        Volatile.Write(ref entry.VerifiedDigest, digest);
        return true;
    }

    private void Add(string user, Entry entry)
    {
        if (!_entries.TryAdd(user, entry))
        {
            throw new ArgumentException($"UI user '{user}' is given twice.", nameof(user));
        }

        _names.Add(user);
    }

    private int HighestBcryptCost() =>
        _entries.Values.Where(e => e.BcryptHash is not null).Select(e => int.Parse(e.BcryptHash.AsSpan(4, 2), provider: System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(4).Max();

    /// <summary>RFC 7617 section 2: the user-id cannot contain a colon, and neither part may contain control characters.</summary>
    private static void CheckText(string value, string what)
    {
        if (value.Length == 0)
        {
            throw new ArgumentException($"A UI {what} cannot be empty.", nameof(value));
        }

        if (value.Any(char.IsControl) || (what == "user name" && value.Contains(':', StringComparison.Ordinal)))
        {
            throw new ArgumentException($"A UI {what} cannot contain control characters{(what == "user name" ? " or a colon" : "")}.", nameof(value));
        }
    }

    internal sealed class Entry(byte[]? passwordDigest, string? bcryptHash)
    {
        public byte[]? PasswordDigest { get; } = passwordDigest;

        public string? BcryptHash { get; } = bcryptHash;

        /// <summary>The HMAC of the last password that matched <see cref="BcryptHash"/>.</summary>
        public byte[]? VerifiedDigest;
    }
}
