using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace AkkaTcpTransfer.Tests.Docs;

/// <summary>README.md and docs/*.md link only to what a clone of the repository has: every relative link resolves to a
/// file or folder inside it, every #anchor to a markdown file names one of its headings (GitHub's anchor rules), and
/// nothing points at the shared folder that sits beside the repository on the machine it was written on.</summary>
public sealed partial class DocLinksTests
{
    private static readonly string Root = FindRoot();

    /// <summary>Notes beside the repository where it was written, not in it: a clone has no such folder.</summary>
    private const string SharedFolder = "../shared";

    public static TheoryData<string> Documents()
    {
        var data = new TheoryData<string>();
        foreach (var document in DocumentPaths()) data.Add(document);
        return data;
    }

    [Fact]
    public void The_documents_are_found_and_the_readme_links_into_docs()
    {
        var documents = DocumentPaths();
        Assert.Contains("README.md", documents);
        Assert.True(documents.Count >= 5, $"README.md and docs/*.md: found only {string.Join(", ", documents)}");
        var readme = Links(File.ReadAllText(Path.Combine(Root, "README.md"))).Select(l => l.Target).ToList();
        Assert.Contains(readme, t => t.StartsWith("docs/", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void Every_relative_link_resolves_inside_the_repository(string document)
    {
        var file = Path.Combine(Root, document);
        var problems = new List<string>();
        foreach (var (text, target, line) in Links(File.ReadAllText(file)))
        {
            var where = $"{document}:{line}: [{text}]({target})";
            if (IsExternal(target)) continue;
            if (target.StartsWith('/'))
            {
                problems.Add($"{where}: starts with '/' (GitHub and a clone resolve it differently; make it relative)");
                continue;
            }
            var hash = target.IndexOf('#', StringComparison.Ordinal);
            var path = Uri.UnescapeDataString(hash < 0 ? target : target[..hash]);
            var anchor = hash < 0 ? "" : Uri.UnescapeDataString(target[(hash + 1)..]);
            var resolved = path.Length == 0 ? file : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, path));
            if (!Inside(resolved))
            {
                problems.Add($"{where}: leaves the repository ({resolved})");
                continue;
            }
            if (!File.Exists(resolved) && !Directory.Exists(resolved))
            {
                problems.Add($"{where}: {Path.GetRelativePath(Root, resolved)} does not exist");
                continue;
            }
            if (anchor.Length > 0 && File.Exists(resolved) && resolved.EndsWith(".md", StringComparison.OrdinalIgnoreCase)
                && !Anchors(File.ReadAllText(resolved)).Contains(anchor))
                problems.Add($"{where}: {Path.GetRelativePath(Root, resolved)} has no heading with the anchor #{anchor}");
        }
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void No_link_points_at_the_shared_folder_beside_the_repository(string document)
    {
        var text = File.ReadAllText(Path.Combine(Root, document));
        var bad = Links(text).Where(l => l.Text.Contains(SharedFolder, StringComparison.Ordinal) || l.Target.Contains(SharedFolder, StringComparison.Ordinal))
            .Select(l => $"{document}:{l.Line}: [{l.Text}]({l.Target})").ToList();
        Assert.True(bad.Count == 0, string.Join('\n', bad));
        // Not as a link either: a reader of a clone cannot follow a path to it.
        Assert.DoesNotContain(SharedFolder, text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Codes (Refused, Goodbye, Error)", "codes-refused-goodbye-error")]
    [InlineData("Measured facts about Akka.IO", "measured-facts-about-akkaio")]
    [InlineData("Where the CPU goes, many small files, arrivals (2026-11-30, issue 10 begun)", "where-the-cpu-goes-many-small-files-arrivals-2026-11-30-issue-10-begun")]
    [InlineData("On a terminal: the full-screen UI", "on-a-terminal-the-full-screen-ui")]
    [InlineData("`--insecure` and [the link](x.md) in *a* heading_name", "--insecure-and-the-link-in-a-heading_name")]
    [InlineData("Über die Größe", "über-die-größe")]
    public void Anchors_follow_GitHubs_rules(string heading, string anchor) => Assert.Equal(anchor, Slug(heading));

    [Fact]
    public void Repeated_headings_get_numbered_anchors_as_on_GitHub()
    {
        var anchors = Anchors("# Notes\n\n## Run\n\n```\n# not a heading\n```\n\n## Run\n\n### Run\n");
        Assert.Equal("notes run run-1 run-2", string.Join(' ', anchors.Order(StringComparer.Ordinal)));
    }

    [Fact]
    public void Links_in_code_are_not_links_and_link_text_may_span_lines()
    {
        var links = Links("a [real\none](docs/A.md#x) and `[code](no.md)`\n\n```\n[fenced](no.md)\n```\n<!-- [hidden](no.md) -->\n[ref]: docs/B.md\n");
        Assert.Equal(new[] { ("real\none", "docs/A.md#x", 1), ("ref", "docs/B.md", 8) }, links.Select(l => (l.Text, l.Target, l.Line)));
    }

    // ---------------------------------------------------------------- parsing

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "AkkaTcpTransfer.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException($"no AkkaTcpTransfer.sln above {AppContext.BaseDirectory}");
    }

    private static List<string> DocumentPaths()
    {
        var documents = new List<string> { "README.md" };
        documents.AddRange(Directory.GetFiles(Path.Combine(Root, "docs"), "*.md")
            .Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal));
        return documents;
    }

    private static bool Inside(string fullPath) =>
        fullPath == Root || fullPath.StartsWith(Root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>http:, https:, mailto: and any other scheme, or a protocol-relative //host: not ours to resolve.</summary>
    private static bool IsExternal(string target) => target.StartsWith("//", StringComparison.Ordinal) || Scheme().IsMatch(target);

    /// <summary>The text with code (fenced blocks, inline spans) and HTML comments blanked out: every character but a
    /// newline becomes a space, so that positions and line numbers stay those of the original.</summary>
    private static string WithoutCode(string markdown)
    {
        static string Blank(string s) => string.Concat(s.Select(c => c == '\n' ? '\n' : ' '));
        var lines = markdown.Split('\n');
        var fence = "";
        for (var i = 0; i < lines.Length; i++)
        {
            var trimmed = lines[i].TrimStart();
            if (fence.Length == 0 && (trimmed.StartsWith("```", StringComparison.Ordinal) || trimmed.StartsWith("~~~", StringComparison.Ordinal)))
            {
                fence = trimmed[..3];
                lines[i] = Blank(lines[i]);
            }
            else if (fence.Length > 0)
            {
                if (trimmed.StartsWith(fence, StringComparison.Ordinal)) fence = "";
                lines[i] = Blank(lines[i]);
            }
        }
        var text = string.Join('\n', lines);
        text = HtmlComment().Replace(text, m => Blank(m.Value));
        return CodeSpan().Replace(text, m => Blank(m.Value));
    }

    /// <summary>Every link outside code: its text and target as written, and the line it starts on.</summary>
    private static List<(string Text, string Target, int Line)> Links(string markdown)
    {
        markdown = markdown.Replace("\r\n", "\n", StringComparison.Ordinal);
        var text = WithoutCode(markdown);
        (string, string, int) Found(Match m, string linkText) =>
            (linkText, markdown.Substring(m.Groups["target"].Index, m.Groups["target"].Length), text.AsSpan(0, m.Index).Count('\n') + 1);
        string Original(Group g) => markdown.Substring(g.Index, g.Length);
        var links = InlineLink().Matches(text).Select(m => Found(m, Original(m.Groups["text"])))
            .Concat(ReferenceDefinition().Matches(text).Select(m => Found(m, Original(m.Groups["text"]))))
            .Concat(HtmlLink().Matches(text).Select(m => Found(m, "<html>")));
        return links.OrderBy(l => l.Item3).ToList();
    }

    /// <summary>The anchors GitHub gives the headings of a markdown file; a repeated one gets -1, -2... in order.</summary>
    private static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in WithoutCodeBlocksOnly(markdown))
        {
            var heading = Heading().Match(line);
            if (!heading.Success) continue;
            var slug = Slug(heading.Groups["text"].Value);
            var count = seen.GetValueOrDefault(slug);
            seen[slug] = count + 1;
            anchors.Add(count == 0 ? slug : $"{slug}-{count.ToString(CultureInfo.InvariantCulture)}");
        }
        return anchors;
    }

    private static IEnumerable<string> WithoutCodeBlocksOnly(string markdown)
    {
        var fence = "";
        foreach (var line in markdown.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            var trimmed = line.TrimStart();
            if (fence.Length == 0 && (trimmed.StartsWith("```", StringComparison.Ordinal) || trimmed.StartsWith("~~~", StringComparison.Ordinal)))
                fence = trimmed[..3];
            else if (fence.Length > 0 && trimmed.StartsWith(fence, StringComparison.Ordinal))
                fence = "";
            else if (fence.Length == 0)
                yield return line;
        }
    }

    /// <summary>GitHub's anchor for a heading: links reduced to their text, lower case, everything but letters, marks,
    /// digits, underscores, hyphens and spaces removed, each space a hyphen.</summary>
    private static string Slug(string heading)
    {
        var text = InlineLink().Replace(heading, m => m.Groups["text"].Value).Trim().ToLowerInvariant();
        var slug = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c == ' ') slug.Append('-');
            else if (c == '-' || char.IsLetterOrDigit(c) || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.NonSpacingMark
                     or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark or UnicodeCategory.LetterNumber
                     or UnicodeCategory.OtherNumber or UnicodeCategory.ConnectorPunctuation)
                slug.Append(c);
        }
        return slug.ToString();
    }

    [GeneratedRegex(@"!?\[(?<text>(?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?(?<target>[^()\s<>]*)>?(?:\s+""[^""]*"")?\s*\)")]
    private static partial Regex InlineLink();

    [GeneratedRegex(@"^ {0,3}\[(?<text>[^\]]+)\]:\s*<?(?<target>\S+?)>?(?:\s+""[^""]*"")?\s*$", RegexOptions.Multiline)]
    private static partial Regex ReferenceDefinition();

    [GeneratedRegex(@"<(?:a|img)\s[^>]*?(?:href|src)\s*=\s*""(?<target>[^""]*)""", RegexOptions.IgnoreCase)]
    private static partial Regex HtmlLink();

    [GeneratedRegex(@"<!--.*?-->", RegexOptions.Singleline)]
    private static partial Regex HtmlComment();

    [GeneratedRegex(@"(`+)[^`].*?\1", RegexOptions.Singleline)]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"^ {0,3}#{1,6}[ \t]+(?<text>.*?)(?:[ \t]+#+)?[ \t]*$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9+.\-]*:")]
    private static partial Regex Scheme();
}
