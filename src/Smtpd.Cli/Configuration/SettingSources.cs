using System.CommandLine;

namespace Smtpd.Cli.Configuration;

/// <summary>The values of one flag and where they came from.</summary>
/// <param name="Flag">The flag.</param>
/// <param name="Values">Its values (one for a single-valued flag).</param>
/// <param name="Label">The source, as error messages name it: <c>--max-size</c>, <c>SMTPD_MAX_SIZE (--max-size)</c> or <c>FILE:LINE (--max-size)</c>.</param>
internal sealed record Setting(Flag Flag, IReadOnlyList<string> Values, string Label)
{
    /// <summary>The last value: for a single-valued flag given several times, the last one wins.</summary>
    public string Value => Values[^1];
}

/// <summary>
/// Resolves each flag from, in order of precedence, the command line, the <c>SMTPD_*</c> environment variables and
/// the config file. The first source that has a flag gives all its values; repeatable flags are not merged across
/// sources, so an environment variable can replace a config file's list as a whole.
/// </summary>
internal sealed class SettingSources
{
    private readonly ParseResult _parse;
    private readonly IReadOnlyDictionary<Flag, Option> _options;
    private readonly Func<string, string?> _environment;
    private readonly ConfigFile? _config;

    private SettingSources(ParseResult parse, IReadOnlyDictionary<Flag, Option> options, Func<string, string?> environment, ConfigFile? config)
    {
        _parse = parse;
        _options = options;
        _environment = environment;
        _config = config;
    }

    /// <summary>The config file that was read, if any.</summary>
    public string? ConfigPath => _config?.Path;

    /// <summary>Reads the environment and the config file for a parsed command line.</summary>
    /// <param name="parse">The parsed command line.</param>
    /// <param name="options">The command's options for each flag.</param>
    /// <param name="environment">Looks up an environment variable.</param>
    /// <returns>The sources.</returns>
    /// <exception cref="SettingException">The config file is missing (when named) or malformed.</exception>
    public static SettingSources Load(ParseResult parse, IReadOnlyDictionary<Flag, Option> options, Func<string, string?> environment)
    {
        var partial = new SettingSources(parse, options, environment, null);
        var config = partial.Get(Flags.Config) is { } named
            ? ConfigFile.Read(named.Value, named.Label)
            : File.Exists(DefaultPaths.ConfigFile) ? ConfigFile.Read(DefaultPaths.ConfigFile, "config file") : null;
        return new SettingSources(parse, options, environment, config);
    }

    /// <summary>The process environment as a lookup.</summary>
    /// <param name="name">The variable.</param>
    /// <returns>Its value, or <see langword="null"/>.</returns>
    public static string? ProcessEnvironment(string name) => Environment.GetEnvironmentVariable(name);

    /// <summary>Gets a flag from the first source that has it.</summary>
    /// <param name="flag">The flag.</param>
    /// <returns>Its values and source, or <see langword="null"/> when no source has it.</returns>
    /// <exception cref="SettingException">An environment variable for a switch is not a boolean.</exception>
    public Setting? Get(Flag flag)
    {
        if (_options.TryGetValue(flag, out var option) && _parse.GetResult(option) is { Implicit: false } result)
        {
            var values = flag.Kind == FlagKind.Switch
                ? [_parse.GetValue((Option<bool>)option) ? "true" : "false"]
                : result.Tokens.Select(t => t.Value).ToArray();
            if (values.Length > 0)
            {
                return new Setting(flag, values, flag.Option);
            }
        }

        if (_environment(flag.EnvironmentVariable) is { } text)
        {
            string[] values = flag.Kind == FlagKind.List
                ? text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                : [text];
            if (values.Length > 0)
            {
                return new Setting(flag, values, $"{flag.EnvironmentVariable} ({flag.Option})");
            }
        }

        return _config?.Get(flag);
    }

    /// <summary>Gets a switch.</summary>
    /// <param name="flag">The switch.</param>
    /// <returns>Whether it is on.</returns>
    /// <exception cref="SettingException">The value is not a boolean.</exception>
    public bool IsOn(Flag flag) => Get(flag) is { } setting && ValueParsers.ParseSwitch(setting.Value, setting.Label);

    /// <summary>The config file: <c>key = value</c> lines, keys being the long flag names, <c>#</c> comment lines.</summary>
    private sealed class ConfigFile
    {
        private readonly Dictionary<string, List<(string Value, int Line)>> _entries;

        private ConfigFile(string path, Dictionary<string, List<(string Value, int Line)>> entries)
        {
            Path = path;
            _entries = entries;
        }

        public string Path { get; }

        public static ConfigFile Read(string path, string label)
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new SettingException(label, $"cannot read {path}: {ex.Message}");
            }

            // Every command reads the same file, so every catcher flag is a known key, whichever command runs.
            var names = Flags.Catcher.Where(f => f != Flags.Config).ToDictionary(f => f.Name, StringComparer.OrdinalIgnoreCase);
            var entries = new Dictionary<string, List<(string, int)>>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < lines.Length; i++)
            {
                var line = lines[i].Trim();
                if (line.Length == 0 || line.StartsWith('#'))
                {
                    continue;
                }

                var equals = line.IndexOf('=', StringComparison.Ordinal);
                var key = (equals < 0 ? line : line[..equals]).Trim();
                var value = equals < 0 ? string.Empty : line[(equals + 1)..].Trim();
                if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
                {
                    value = value[1..^1];
                }

                if (key.StartsWith("--", StringComparison.Ordinal))
                {
                    key = key[2..];
                }

                if (!names.TryGetValue(key, out var flag))
                {
                    throw new SettingException($"{path}:{i + 1}", $"unknown setting '{key}'");
                }

                if (equals < 0 && flag.Kind != FlagKind.Switch)
                {
                    throw new SettingException($"{path}:{i + 1} ({flag.Option})", "expected 'name = value'");
                }

                if (!entries.TryGetValue(flag.Name, out var list))
                {
                    entries[flag.Name] = list = [];
                }

                list.Add((value, i + 1));
            }

            return new ConfigFile(path, entries);
        }

        public Setting? Get(Flag flag) =>
            _entries.TryGetValue(flag.Name, out var list) && list.Count > 0
                ? new Setting(flag, list.Select(e => e.Value).ToArray(), $"{Path}:{list[^1].Line} ({flag.Option})")
                : null;
    }
}
