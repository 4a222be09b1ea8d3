using System.Globalization;
using System.Text;

namespace AkkaTcpTransfer.Chat;

/// <summary>The confusable skeleton of a name (Unicode TR39, section 4, taken after case folding and compatibility
/// decomposition, NFKD, as identifiers are): two names with the same skeleton look alike ("alice", "аlice" with a
/// Cyrillic а, fullwidth "ａｌｉｃｅ", mathematical "𝐚𝐥𝐢𝐜𝐞", "ALICE"), so only one of them may be online. Computed from
/// embedded Unicode data (decompositions, combining classes, confusable prototypes; see
/// tools/unicode/make-skeleton-data.py), so it is the same on every machine and needs no ICU.</summary>
internal static class NameSkeleton
{
    private static readonly Dictionary<int, int[]> Decompositions = [];
    private static readonly Dictionary<int, int[]> CompatibilityDecompositions = [];
    private static readonly Dictionary<int, int> CombiningClasses = [];
    private static readonly Dictionary<int, string> Prototypes = [];

#pragma warning disable CA1810 // the tables are read once, from one resource, in one pass
    static NameSkeleton()
#pragma warning restore CA1810
    {
        using var stream = typeof(NameSkeleton).Assembly.GetManifestResourceStream("AkkaTcpTransfer.skeleton-data.txt")
            ?? throw new InvalidOperationException("skeleton-data.txt is not embedded");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var cp = int.Parse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (parts[0] == "C")
            {
                CombiningClasses[cp] = int.Parse(parts[2], CultureInfo.InvariantCulture);
                continue;
            }
            var rest = parts[2..].Select(p => int.Parse(p, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();
            switch (parts[0])
            {
                case "D": Decompositions[cp] = rest; break;
                case "K": CompatibilityDecompositions[cp] = rest; break;
                default: Prototypes[cp] = string.Concat(rest.Select(char.ConvertFromUtf32)); break;
            }
        }
    }

    /// <summary>The skeleton of <paramref name="name"/>, case-folded: equal skeletons mean names people cannot tell apart.</summary>
    public static string Of(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Skeleton(name.ToLowerInvariant());
    }

    /// <summary>The skeleton of <paramref name="name"/> as written, then case-folded: capitals keep their own look
    /// ("I" is confusable with "l", which "i" is not). With <see cref="Of"/> it makes the two keys a name is known by.</summary>
    public static string OfShape(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Skeleton(name);
    }

    private static string Skeleton(string name)
    {
        // Map first, then fold case: a capital's own look counts (for OfShape; Of folds before it calls this).
        // Prototypes can map to capitals (ℍ -> H) that fold to another prototype: repeat until nothing changes.
        var current = Nfkd(name);
        for (var i = 0; i < 4; i++)
        {
            var next = Nfkd(MapPrototypes(current).ToLowerInvariant());
            if (next == current) break;
            current = next;
        }
        return current.ToLowerInvariant();
    }

    private static string MapPrototypes(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            if (Prototypes.TryGetValue(rune.Value, out var prototype)) sb.Append(prototype);
            else sb.Append(rune.ToString());
        }
        return sb.ToString();
    }

    /// <summary>Canonical decomposition (NFD): full recursive decomposition, Hangul syllables, canonical ordering.</summary>
    internal static string Nfd(string text) => Decomposed(text, compatibility: false);

    /// <summary>Compatibility decomposition (NFKD): as NFD, and compatibility forms (fullwidth, font variants,
    /// ligatures, circled and other presentation forms) to their plain characters too.</summary>
    internal static string Nfkd(string text) => Decomposed(text, compatibility: true);

    private static string Decomposed(string text, bool compatibility)
    {
        var code = new List<int>(text.Length + 4);
        foreach (var rune in text.EnumerateRunes()) Decompose(rune.Value, code, compatibility);
        // Canonical ordering: a stable sort of each run of non-starters by combining class.
        for (var i = 0; i < code.Count;)
        {
            if (Class(code[i]) == 0)
            {
                i++;
                continue;
            }
            var end = i;
            while (end < code.Count && Class(code[end]) != 0) end++;
            var run = code.GetRange(i, end - i).Select((c, k) => (c, k)).OrderBy(x => Class(x.c)).ThenBy(x => x.k).Select(x => x.c).ToList();
            for (var k = 0; k < run.Count; k++) code[i + k] = run[k];
            i = end;
        }
        var sb = new StringBuilder(code.Count);
        foreach (var c in code) sb.Append(char.ConvertFromUtf32(c));
        return sb.ToString();
    }

    private static int Class(int cp) => CombiningClasses.GetValueOrDefault(cp);

    private static void Decompose(int cp, List<int> output, bool compatibility)
    {
        const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, TCount = 28, NCount = 588, SCount = 11172;
        var s = cp - SBase;
        if (s is >= 0 and < SCount)
        {
            output.Add(LBase + (s / NCount));
            output.Add(VBase + (s % NCount / TCount));
            if (s % TCount != 0) output.Add(TBase + (s % TCount));
            return;
        }
        if (Decompositions.TryGetValue(cp, out var parts) || (compatibility && CompatibilityDecompositions.TryGetValue(cp, out parts)))
        {
            foreach (var part in parts) Decompose(part, output, compatibility);
            return;
        }
        output.Add(cp);
    }
}
