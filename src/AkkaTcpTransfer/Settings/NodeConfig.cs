using System.Text;
using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace AkkaTcpTransfer.Settings;

/// <summary>Builds a node's configuration from layers, first wins: overrides (in order, later wins), config files
/// (later wins), the role preset, hocon/reference.conf. Akka's own defaults sit below all of them.</summary>
public static class NodeConfig
{
    /// <summary>Root section of our settings.</summary>
    public const string Section = "akka-tcp-transfer";

    /// <summary>hocon/reference.conf as shipped inside this assembly.</summary>
    public static Config Reference { get; } = Load("reference.conf");

    private static readonly HashSet<string> KnownKeys = [.. Flatten(Reference.GetConfig(Section).Root, "").Select(kv => kv.Key)];

    /// <summary>The role's preset (hocon/server.conf or hocon/client.conf) over reference.conf.</summary>
    public static Config Preset(NodeRole role) =>
        Load(role == NodeRole.Server ? "server.conf" : "client.conf").WithFallback(Reference);

    /// <summary>A configuration for <paramref name="role"/> with the given overrides. A key without the
    /// "akka-tcp-transfer." or "akka." prefix is taken as relative to akka-tcp-transfer, so ("port", "0") works.</summary>
    public static Config Build(NodeRole role, params (string Key, string Value)[] overrides) =>
        Build(role, [], overrides);

    /// <summary>The full layering used by the command-line program.</summary>
    public static Config Build(NodeRole role, IEnumerable<string> files, IEnumerable<(string Key, string Value)> overrides)
    {
        var config = Preset(role);
        foreach (var file in files)
            config = ParseFile(file).WithFallback(config);
        foreach (var (key, value) in overrides)
            config = Override(key, value).WithFallback(config);
        CheckKnownKeys(config);
        return config;
    }

    /// <summary>Parses a user's HOCON file; any problem becomes a <see cref="ConfigException"/> naming the file.</summary>
    public static Config ParseFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"cannot read config file '{path}': {e.Message}", e);
        }
        // Akka's parser accepts broken text silently (an unclosed brace, a key without a value), which would turn
        // a typo into a setting that is quietly ignored. Check the structure ourselves first.
        if (StructureProblem(text) is { } problem)
            throw new ConfigException($"config file '{path}' is not valid HOCON: {problem}");
        Config config;
        try
        {
            config = ConfigurationFactory.ParseString(text);
        }
        catch (Exception e)
        {
            throw new ConfigException($"config file '{path}' is not valid HOCON: {FirstLine(e.Message)}", e);
        }
        var empty = Flatten(config.Root, "").FirstOrDefault(kv => kv.Value.Values.Count == 0).Key;
        if (empty is not null) throw new ConfigException($"config file '{path}' is not valid HOCON: '{empty}' has no value");
        return config;
    }

    /// <summary>Unbalanced braces or brackets, or an unterminated string, outside comments; null when none.</summary>
    internal static string? StructureProblem(string text)
    {
        var stack = new Stack<(char Open, int Line)>();
        var line = 1;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\n') { line++; continue; }
            if (c == '#' || (c == '/' && i + 1 < text.Length && text[i + 1] == '/'))
            {
                while (i < text.Length && text[i] != '\n') i++;
                i--;
                continue;
            }
            if (c == '"')
            {
                var triple = i + 2 < text.Length && text[i + 1] == '"' && text[i + 2] == '"';
                var end = triple ? text.IndexOf("\"\"\"", i + 3, StringComparison.Ordinal) : ClosingQuote(text, i + 1);
                if (end < 0) return $"unterminated string on line {line}";
                line += text.AsSpan(i, end - i).Count('\n');
                i = triple ? end + 2 : end;
                continue;
            }
            if (c is '{' or '[') stack.Push((c, line));
            else if (c is '}' or ']')
            {
                var expected = c == '}' ? '{' : '[';
                if (stack.Count == 0 || stack.Pop().Open != expected) return $"unexpected '{c}' on line {line}";
            }
        }
        return stack.Count > 0 ? $"'{stack.Peek().Open}' opened on line {stack.Peek().Line} is never closed" : null;
    }

    private static int ClosingQuote(string text, int from)
    {
        for (var i = from; i < text.Length; i++)
        {
            if (text[i] == '\\') { i++; continue; }
            if (text[i] == '"') return i;
            if (text[i] == '\n') return -1;
        }
        return -1;
    }

    /// <summary>One "key=value" override as a one-entry configuration. The value is always taken as a string,
    /// which every typed getter (numbers, sizes, durations, booleans) parses.</summary>
    public static Config Override(string key, string value)
    {
        key = key.Trim();
        if (key.Length == 0 || key.Any(c => char.IsWhiteSpace(c) || c is '"' or '=' or '{' or '}' or '[' or ']' or ':' or '#'))
            throw new ConfigException($"'{key}' is not a valid setting path");
        var path = QualifiedPath(key);
        var escaped = new StringBuilder();
        foreach (var c in value)
        {
            escaped.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ => c.ToString(),
            });
        }
        try
        {
            return ConfigurationFactory.ParseString($"{path} = \"{escaped}\"");
        }
        catch (Exception e)
        {
            throw new ConfigException($"cannot set '{key}': {FirstLine(e.Message)}", e);
        }
    }

    /// <summary>"port" becomes "akka-tcp-transfer.port"; "akka.loglevel" and "akka-tcp-transfer.port" stay.</summary>
    public static string QualifiedPath(string key) =>
        key.StartsWith(Section + ".", StringComparison.Ordinal) || key.StartsWith("akka.", StringComparison.Ordinal)
            ? key
            : $"{Section}.{key}";

    /// <summary>Every key under akka-tcp-transfer must exist in reference.conf: a typo is an error, not a
    /// silently ignored setting.</summary>
    public static void CheckKnownKeys(Config config)
    {
        if (!config.HasPath(Section)) return;
        var unknown = Flatten(config.GetConfig(Section).Root, "").Select(kv => kv.Key).Where(k => !KnownKeys.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new ConfigException($"unknown setting{(unknown.Count > 1 ? "s" : "")}: {string.Join(", ", unknown.Select(k => $"{Section}.{k}"))} (see hocon/reference.conf)");
    }

    private static IEnumerable<KeyValuePair<string, HoconValue>> Flatten(HoconValue value, string prefix)
    {
        if (value.IsObject())
        {
            foreach (var (key, child) in value.GetObject().Items)
            {
                foreach (var kv in Flatten(child, prefix.Length == 0 ? key : $"{prefix}.{key}"))
                    yield return kv;
            }
        }
        else if (prefix.Length > 0)
        {
            yield return new(prefix, value);
        }
    }

    private static Config Load(string name)
    {
        using var stream = typeof(NodeConfig).Assembly.GetManifestResourceStream($"AkkaTcpTransfer.hocon.{name}")
            ?? throw new InvalidOperationException($"hocon/{name} is not embedded in {typeof(NodeConfig).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }

    private static string FirstLine(string s) => s.Split('\n', 2)[0].Trim();
}
