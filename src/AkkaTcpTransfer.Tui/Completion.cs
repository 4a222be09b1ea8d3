using AkkaTcpTransfer.Presentation;

namespace AkkaTcpTransfer.Tui;

/// <summary>Tab completion for the input line: a command after "/", a name after "/msg" or as /send's first word, a
/// path elsewhere in /send, a room in any word starting with "#" and as the room of /join, /leave and /members (the "#"
/// may be left out there) or /msg. Completes as far as every candidate agrees; more than one candidate is listed.</summary>
internal static class Completion
{
    /// <summary>Commands whose first word is a room, "#" or not (InputCommand adds it).</summary>
    private static readonly string[] RoomFirst = ["/join", "/leave", "/part", "/members", "/names"];

    /// <summary>The line completed (or unchanged) and the candidates to show when there is more than one.
    /// <paramref name="rooms"/>: the rooms to offer (those joined, and those of the last listing).</summary>
    public static (string Line, IReadOnlyList<string> Candidates) Complete(string line, IReadOnlyCollection<string> peers,
        Func<string, IEnumerable<string>>? listDirectory = null, IReadOnlyCollection<string>? rooms = null)
    {
        ArgumentNullException.ThrowIfNull(line);
        ArgumentNullException.ThrowIfNull(peers);
        listDirectory ??= ListDirectory;
        rooms ??= [];
        var lastSpace = line.LastIndexOf(' ');
        var word = line[(lastSpace + 1)..];
        var head = line[..(lastSpace + 1)];
        var words = head.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var verb = words.Length > 0 && words[0].StartsWith('/') ? words[0].ToLowerInvariant() : null;
        IEnumerable<string> candidates;
        if (lastSpace < 0 && word.StartsWith('/'))
        {
            candidates = InputCommand.Verbs.Where(v => v.StartsWith(word, StringComparison.OrdinalIgnoreCase)).Select(v => v + " ");
        }
        else if (verb is not null && RoomFirst.Contains(verb) && words.Length == 1)
        {
            var typed = word.StartsWith('#') ? word : "#" + word;
            candidates = Rooms(rooms, typed);
        }
        else if (verb == "/msg" && words.Length == 1)
        {
            candidates = peers.Where(p => p.StartsWith(word, StringComparison.OrdinalIgnoreCase)).Select(p => p + " ").Concat(Rooms(rooms, word));
        }
        else if (word.StartsWith('#') && verb != "/send")
        {
            candidates = Rooms(rooms, word);
        }
        else if (verb == "/send" && words.Length == 1 && !LooksLikePath(word))
        {
            candidates = peers.Where(p => p.StartsWith(word, StringComparison.OrdinalIgnoreCase)).Select(p => p + " ");
            candidates = candidates.Concat(Paths(word, listDirectory));
        }
        else if (verb == "/send")
        {
            candidates = Paths(word, listDirectory);
        }
        else
        {
            return (line, []);
        }
        var list = candidates.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (list.Count == 0) return (line, []);
        if (list.Count == 1) return (head + list[0], []);
        var common = list.Aggregate((a, b) => a[..CommonPrefix(a, b)]);
        return (head + (common.Length > word.Length ? common : word), list);
    }

    private static IEnumerable<string> Rooms(IReadOnlyCollection<string> rooms, string typed) =>
        rooms.Where(r => r.StartsWith(typed, StringComparison.OrdinalIgnoreCase)).Select(r => r + " ");

    private static bool LooksLikePath(string word) => word.Contains('/', StringComparison.Ordinal) || word.StartsWith('~') || word.StartsWith('.');

    /// <summary>Entries of the folder the word names, those starting with its last part; folders end in "/".</summary>
    private static IEnumerable<string> Paths(string word, Func<string, IEnumerable<string>> listDirectory)
    {
        var slash = word.LastIndexOf('/');
        var folder = slash < 0 ? "" : word[..(slash + 1)];
        var prefix = word[(slash + 1)..];
        return listDirectory(folder).Where(e => e.StartsWith(prefix, StringComparison.Ordinal) && !e.Contains(' ', StringComparison.Ordinal)).Select(e => folder + e);
    }

    private static List<string> ListDirectory(string folder)
    {
        var path = folder.Length == 0 ? "." : folder.StartsWith('~')
            ? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + folder[1..]
            : folder;
        try
        {
            return Directory.EnumerateFileSystemEntries(path).Take(500)
                .Select(e => Path.GetFileName(e) + (Directory.Exists(e) ? "/" : "")).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return [];
        }
    }

    private static int CommonPrefix(string a, string b)
    {
        var n = Math.Min(a.Length, b.Length);
        var i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }
}
