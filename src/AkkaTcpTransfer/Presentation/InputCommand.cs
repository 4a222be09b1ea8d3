using System.Text;

namespace AkkaTcpTransfer.Presentation;

/// <summary>One line a person typed (on stdin, or in the terminal UI's input line), parsed. A line not starting with
/// '/' is chat to everyone; "//" at the start sends a line that begins with a slash. Arguments are split as a shell
/// would (<see cref="Tokenize"/>).</summary>
internal abstract record InputCommand
{
    public sealed record Say(string Text) : InputCommand;
    public sealed record SayTo(string To, string Text) : InputCommand;
    public sealed record Who : InputCommand;
    public sealed record Quit : InputCommand;
    public sealed record Help : InputCommand;
    /// <summary>Send each of <paramref name="Paths"/> (files or folders) to <paramref name="To"/> (null: the server).</summary>
    public sealed record Send(string? To, IReadOnlyList<string> Paths) : InputCommand;
    public sealed record Cancel(string Id) : InputCommand;
    public sealed record Accept(string Id) : InputCommand;
    public sealed record Reject(string Id) : InputCommand;
    public sealed record Transfers : InputCommand;
    public sealed record Join(string Room) : InputCommand;
    /// <summary><paramref name="Room"/> null: the room in view (the terminal UI's; line mode names one).</summary>
    public sealed record Leave(string? Room) : InputCommand;
    public sealed record Rooms : InputCommand;
    public sealed record Members(string? Room) : InputCommand;
    public sealed record Topic(string? Room, string Text) : InputCommand;
    /// <summary><paramref name="Target"/> null: the room in view (line mode: the server-wide room).</summary>
    public sealed record History(string? Target, int Count) : InputCommand;
    public sealed record Unregister : InputCommand;
    /// <summary>Ask the server for a file it keeps (one shared with a room, or one kept for this client).</summary>
    public sealed record Get(string FileId) : InputCommand;
    /// <summary>The server's operator frees a registered name, whoever holds it.</summary>
    public sealed record Free(string Name) : InputCommand;
    public sealed record Invalid(string Message) : InputCommand;

    /// <summary>The commands, for completion and suggestions.</summary>
    public static readonly IReadOnlyList<string> Verbs = ["/msg", "/who", "/join", "/leave", "/rooms", "/members", "/topic", "/history",
        "/send", "/get", "/cancel", "/accept", "/reject", "/transfers", "/unregister", "/free", "/help", "/quit"];

    /// <summary>Lines a history request asks for when no number is given.</summary>
    public const int DefaultHistory = 50;

    public const string Usage = """
        TEXT                    chat to everyone (//TEXT sends a line starting with /); in the UI, to the room in view
        /msg NAME TEXT          a direct message (the server is addressed by its name); kept for NAME if offline
        /msg #ROOM TEXT         a line to a room you are in
        /who                    who is online
        /join #ROOM             join a room (made if new); you stay a member until you leave
        /leave [#ROOM]          leave a room (in the UI: the one in view)
        /rooms                  the rooms, with their members and topics
        /members [#ROOM]        a room's members
        /topic [#ROOM] TEXT     set a room's topic (no TEXT: clear it)
        /history [#ROOM] [N]    N earlier lines (50), further back each time; no room: the server-wide one
        /unregister             let your name go (it is registered to you since you first used it)
        /free NAME              (server) free a registered name, whoever holds it, for anyone to take
        /send [NAME] PATH...    send files or folders: to the server, or to NAME through it; NAME,NAME...
                                (or NAME, for someone offline; #ROOM for a room's members): the server
                                keeps it and offers it to each
        /get FILE-ID            get a file the server keeps: one shared with a room you are in, or for you
        /accept ID | /reject ID decide on an offer (a folder is one decision)
        /cancel ID              cancel a transfer, from either end
        /transfers              transfers in flight, and partial files kept for a resume
        /help                   this list
        /quit                   leave
        Paths are split as a shell would: quote spaces ("my file" or 'my file'), ~ is your home folder.
        """;

    /// <summary>Null for a blank line. <paramref name="peers"/> (names online) lets /send tell a name from a path;
    /// <paramref name="home"/> replaces a leading ~ (default: the user's home folder).</summary>
    public static InputCommand? Parse(string line, IReadOnlyCollection<string>? peers = null, string? home = null)
    {
        ArgumentNullException.ThrowIfNull(line);
        line = line.TrimEnd('\r', '\n');
        if (line.Trim().Length == 0) return null;
        if (line.Trim() is "help" or "?") return new Help();
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
                return ParseSend(rest, peers, home ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
            case "/cancel":
            case "/accept":
            case "/reject":
            {
                var id = rest.Trim();
                if (id.Length == 0 || id.Contains(' ', StringComparison.Ordinal)) return new Invalid($"usage: {verb} ID (the id is shown with the transfer; /transfers lists them)");
                return verb switch
                {
                    "/cancel" => new Cancel(id),
                    "/accept" => new Accept(id),
                    _ => new Reject(id),
                };
            }
            case "/transfers":
                return new Transfers();
            case "/join":
            {
                var room = rest.Trim();
                if (room.Length == 0 || room.Contains(' ', StringComparison.Ordinal)) return new Invalid("usage: /join #ROOM");
                return new Join(room.StartsWith('#') ? room : "#" + room);
            }
            case "/leave":
            case "/part":
            {
                var room = rest.Trim();
                if (room.Contains(' ', StringComparison.Ordinal)) return new Invalid("usage: /leave [#ROOM]");
                return new Leave(room.Length == 0 ? null : room.StartsWith('#') ? room : "#" + room);
            }
            case "/rooms":
            case "/list":
                return new Rooms();
            case "/members":
            case "/names":
            {
                var room = rest.Trim();
                if (room.Contains(' ', StringComparison.Ordinal)) return new Invalid("usage: /members [#ROOM]");
                return new Members(room.Length == 0 ? null : room.StartsWith('#') ? room : "#" + room);
            }
            case "/topic":
            {
                var trimmed = rest.Trim();
                if (!trimmed.StartsWith('#')) return new Topic(null, trimmed);
                var end = trimmed.IndexOf(' ', StringComparison.Ordinal);
                return end < 0 ? new Topic(trimmed, "") : new Topic(trimmed[..end], trimmed[(end + 1)..].Trim());
            }
            case "/history":
                return ParseHistory(rest);
            case "/unregister":
                return new Unregister();
            case "/get":
            {
                var id = rest.Trim();
                return id.Length == 0 || id.Contains(' ', StringComparison.Ordinal) ? new Invalid("usage: /get FILE-ID (from a room's \"shared a file\" line)") : new Get(id);
            }
            case "/free":
            {
                var freed = rest.Trim();
                return freed.Length == 0 || freed.Contains(' ', StringComparison.Ordinal) ? new Invalid("usage: /free NAME") : new Free(freed);
            }
            default:
                return new Invalid(Suggestions.Nearest(verb, Verbs) is { } guess
                    ? $"unknown command {verb}: did you mean {guess}? (/help lists the commands)"
                    : $"unknown command {verb} (/help lists the commands)");
        }
    }

    /// <summary>/history [#ROOM] [N], in either order.</summary>
    private static InputCommand ParseHistory(string rest)
    {
        const string usage = "usage: /history [#ROOM] [N] (N earlier lines, 1 to 1000)";
        string? target = null;
        var count = DefaultHistory;
        foreach (var word in rest.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (word.StartsWith('#') && target is null) target = word;
            else if (int.TryParse(word, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 1000) count = n;
            else return new Invalid(usage);
        }
        return new History(target, count);
    }

    /// <summary>/send [NAME[,NAME...]] PATH...: the first word is a name (or a comma-separated list of names: the
    /// server keeps the file once and offers it to each) when more follow and it is, unquoted, not a path that exists;
    /// when the names online are known, when every name in it is online, or it has a comma ("bob," for bob offline).</summary>
    private static InputCommand ParseSend(string rest, IReadOnlyCollection<string>? peers, string home)
    {
        const string usage = "usage: /send [NAME] PATH... (quote a path with spaces: /send bob \"my file.txt\")";
        if (Tokenize(rest) is not { } words) return new Invalid($"unbalanced quotes in /send; {usage}");
        if (words.Count == 0) return new Invalid(usage);
        string? to = null;
        if (words.Count > 1)
        {
            var first = words[0].Text;
            var names = first.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var notAPath = !words[0].Quoted && !Path.Exists(Expand(words[0], home));
            // With the names online known: all of them online, or a list (a comma: "bob," is bob, online or not).
            var isName = peers is not null
                ? names.Length > 0 && (names.All(n => peers.Contains(n, StringComparer.OrdinalIgnoreCase))
                    || (notAPath && (first.Contains(',', StringComparison.Ordinal) || first.StartsWith('#'))))
                : notAPath;
            if (isName && first.Contains(',', StringComparison.Ordinal)) first = string.Join(',', names);
            if (isName)
            {
                to = first;
                words.RemoveAt(0);
            }
        }
        return new Send(to, [.. words.Select(w => Expand(w, home))]);
    }

    /// <summary>A leading ~ (alone or before a slash), unless quoted, is the home folder, as in a shell.</summary>
    private static string Expand(Word word, string home)
    {
        if (word.Quoted || home.Length == 0) return word.Text;
        if (word.Text == "~") return home;
        if (word.Text.StartsWith("~/", StringComparison.Ordinal)) return Path.Combine(home, word.Text[2..]);
        return word.Text;
    }

    /// <summary>A word of a command line; <paramref name="Quoted"/> when its first character was in quotes.</summary>
    public readonly record struct Word(string Text, bool Quoted);

    /// <summary>Splits arguments on whitespace as a POSIX shell does: 'single quotes' keep everything literally; inside
    /// "double quotes" a backslash escapes only " and \ (so C:\Users\me stays as typed); outside quotes a backslash
    /// escapes a space, a quote or a backslash, and stays as it is before any other character (so Windows paths need
    /// no doubling). Null when a quote is left open.</summary>
    public static List<Word>? Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var words = new List<Word>();
        var current = new StringBuilder();
        var inWord = false;
        var quotedStart = false;
        var quote = '\0';
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var next = i + 1 < text.Length ? text[i + 1] : '\0';
            if (quote == '\'')
            {
                if (c == '\'') quote = '\0';
                else current.Append(c);
                continue;
            }
            if (quote == '"')
            {
                if (c == '\\' && next is '"' or '\\')
                {
                    current.Append(next);
                    i++;
                }
                else if (c == '"') quote = '\0';
                else current.Append(c);
                continue;
            }
            if (c == '\\' && (char.IsWhiteSpace(next) || next is '"' or '\'' or '\\'))
            {
                if (!inWord) quotedStart = false;
                current.Append(next);
                inWord = true;
                i++;
                continue;
            }
            if (c is '"' or '\'')
            {
                if (!inWord) quotedStart = true;
                quote = c;
                inWord = true;
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                if (inWord) words.Add(new Word(current.ToString(), quotedStart));
                current.Clear();
                inWord = false;
                quotedStart = false;
                continue;
            }
            if (!inWord) quotedStart = false;
            current.Append(c);
            inWord = true;
        }
        if (quote != '\0') return null;
        if (inWord) words.Add(new Word(current.ToString(), quotedStart));
        return words;
    }
}
