using System.Text;

namespace AkkaTcpTransfer.Cli;

/// <summary>One line typed on standard input, parsed. A line not starting with '/' is chat to everyone; "//" at the
/// start sends a line that begins with a slash.</summary>
internal abstract record InputCommand
{
    public sealed record Say(string Text) : InputCommand;
    public sealed record SayTo(string To, string Text) : InputCommand;
    public sealed record Who : InputCommand;
    public sealed record Quit : InputCommand;
    public sealed record Help : InputCommand;
    public sealed record Send(string? To, string Path) : InputCommand;
    public sealed record Cancel(string Id) : InputCommand;
    public sealed record Accept(string Id) : InputCommand;
    public sealed record Reject(string Id) : InputCommand;
    public sealed record Transfers : InputCommand;
    public sealed record Invalid(string Message) : InputCommand;

    public const string Usage =
        "commands: TEXT (chat to everyone) | /msg NAME TEXT | /who | /send [NAME] PATH | /cancel ID | /transfers | /accept ID | /reject ID | /quit | /help";

    /// <summary>Null for a blank line.</summary>
    public static InputCommand? Parse(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        line = line.TrimEnd('\r', '\n');
        if (line.Trim().Length == 0) return null;
        if (!line.StartsWith('/')) return new Say(line);
        if (line.StartsWith("//", StringComparison.Ordinal)) return new Say(line[1..]);

        var space = line.IndexOf(' ', StringComparison.Ordinal);
        var verb = (space < 0 ? line : line[..space]).ToLowerInvariant();
        var rest = space < 0 ? "" : line[(space + 1)..];
        switch (verb)
        {
            case "/msg":
            {
                var trimmed = rest.TrimStart();
                var end = trimmed.IndexOf(' ', StringComparison.Ordinal);
                if (end <= 0 || trimmed[(end + 1)..].Trim().Length == 0) return new Invalid("usage: /msg NAME TEXT");
                return new SayTo(trimmed[..end], trimmed[(end + 1)..]);
            }
            case "/who":
                return new Who();
            case "/quit":
            case "/exit":
                return new Quit();
            case "/help":
                return new Help();
            case "/send":
            {
                var args = Tokenize(rest);
                return args switch
                {
                    null => new Invalid("unbalanced quotes in /send"),
                    [var path] => new Send(null, path),
                    [var name, var path] => new Send(name, path),
                    _ => new Invalid("usage: /send [NAME] PATH (quote a path with spaces: /send bob \"my file.txt\")"),
                };
            }
            case "/cancel":
            case "/accept":
            case "/reject":
            {
                var id = rest.Trim();
                if (id.Length == 0 || id.Contains(' ', StringComparison.Ordinal)) return new Invalid($"usage: {verb} ID (see /transfers)");
                return verb switch
                {
                    "/cancel" => new Cancel(id),
                    "/accept" => new Accept(id),
                    _ => new Reject(id),
                };
            }
            case "/transfers":
                return new Transfers();
            default:
                return new Invalid($"unknown command {verb}; {Usage}");
        }
    }

    /// <summary>Splits arguments on spaces, honouring "double" and 'single' quotes and backslash escapes (outside
    /// single quotes), like a shell does. Null when a quote is left open.</summary>
    public static List<string>? Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new List<string>();
        var current = new StringBuilder();
        var inToken = false;
        char quote = '\0';
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quote == '\'')
            {
                if (c == '\'') quote = '\0';
                else current.Append(c);
                continue;
            }
            if (c == '\\' && i + 1 < text.Length)
            {
                current.Append(text[++i]);
                inToken = true;
                continue;
            }
            if (quote == '"')
            {
                if (c == '"') quote = '\0';
                else current.Append(c);
                continue;
            }
            if (c is '"' or '\'')
            {
                quote = c;
                inToken = true;
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                if (inToken) tokens.Add(current.ToString());
                current.Clear();
                inToken = false;
                continue;
            }
            current.Append(c);
            inToken = true;
        }
        if (quote != '\0') return null;
        if (inToken) tokens.Add(current.ToString());
        return tokens;
    }
}
