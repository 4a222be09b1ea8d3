namespace AkkaTcpTransfer.Presentation;

/// <summary>"Did you mean …?" for a mistyped name: a command-line command or option, or a command typed while running.
/// Used by the program's argument errors and by <see cref="InputCommand"/>.</summary>
internal static class Suggestions
{
    /// <summary>The candidate <paramref name="typed"/> most likely meant, or null when none is near enough to be worth
    /// naming. A start of exactly one candidate is that candidate ("serv" → "server"); otherwise the nearest by edits
    /// (<see cref="Distance"/>), at most one edit for a word of up to three letters and two for a longer one, the first
    /// in the order given on a tie. Case is ignored, and so are leading '-' and '/': they are the same in every
    /// candidate, so they would make a short word look nearer to everything than it is.</summary>
    public static string? Nearest(string typed, IEnumerable<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(typed);
        ArgumentNullException.ThrowIfNull(candidates);
        var word = Stem(typed);
        if (word.Length == 0) return null;
        var list = candidates.ToList();
        var starts = list.Where(c => Stem(c).StartsWith(word, StringComparison.OrdinalIgnoreCase)).ToList();
        if (starts.Count == 1) return starts[0];
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in list)
        {
            var distance = Distance(word, Stem(candidate));
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        return bestDistance <= (word.Length <= 3 ? 1 : 2) ? best : null;
    }

    /// <summary>The edits (a letter inserted, deleted or replaced, or two neighbours swapped) that turn one word into the
    /// other, ignoring case: the optimal-string-alignment form of Damerau-Levenshtein. A swap counts as one edit
    /// because it is the commonest slip of the fingers ("clinet").</summary>
    public static int Distance(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }

    private static string Stem(string name) => name.TrimStart('-', '/');
}
