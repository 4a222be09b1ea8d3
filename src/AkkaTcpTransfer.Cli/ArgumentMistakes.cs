using System.CommandLine;
using System.CommandLine.Parsing;
using AkkaTcpTransfer.Presentation;

namespace AkkaTcpTransfer.Cli;

/// <summary>A mistyped command or option, named with what was probably meant. System.CommandLine's own words name
/// neither ("Required command was not provided" for `sever`), so the first word it could not place is looked at here.
/// </summary>
internal static class ArgumentMistakes
{
    private const string Program = "akka-tcp-transfer";

    /// <summary>The line to print (without the program's name) for the first word the parser could not place, or null
    /// when that word is not a command or an option (an extra argument, say): the parser's message says that well.
    /// </summary>
    public static string? Describe(ParseResult parsed)
    {
        ArgumentNullException.ThrowIfNull(parsed);
        if (parsed.UnmatchedTokens.Count == 0) return null;
        var word = parsed.UnmatchedTokens[0];
        // After "--" every word is an argument, however it looks.
        var tokens = parsed.Tokens.ToList();
        var dashes = tokens.FindIndex(t => t.Type == TokenType.DoubleDash);
        if (dashes >= 0 && tokens.FindIndex(t => t.Value == word) > dashes) return null;

        var result = parsed.CommandResult;
        var command = result.Command;
        var name = result.Parent is null ? Program : command.Name;
        if (word.StartsWith('-'))
        {
            // "--nmae=alice" mistypes the name, not the value.
            var option = word.Split('=', ':')[0];
            var others = parsed.RootCommandResult.Command.Subcommands
                .Where(c => c != command && c.Options.Any(o => o.Name == option || o.Aliases.Contains(option)))
                .Select(c => c.Name).ToList();
            if (others.Count > 0) return $"'{option}' is not an option of {name}, only of {string.Join(" and ", others)} (see --help)";
            var options = OptionsOf(result);
            return Suggestions.Nearest(option, options) is { } guess
                ? $"'{option}' is not an option of {name}; did you mean '{guess}'? (see --help)"
                : $"'{option}' is not an option of {name}; its options are {string.Join(", ", options)} (see --help)";
        }
        if (command.Subcommands.Count == 0) return null;
        var commands = command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
        return Suggestions.Nearest(word, commands) is { } nearest
            ? $"'{word}' is not a command; did you mean '{nearest}'? (see --help)"
            : $"'{word}' is not a command; the commands are {string.Join(", ", commands)} (see --help)";
    }

    /// <summary>The options a command takes: its own and those its ancestors pass down (--help).</summary>
    private static List<string> OptionsOf(CommandResult result)
    {
        var names = result.Command.Options.Where(o => !o.Hidden).Select(o => o.Name).ToList();
        for (var parent = result.Parent as CommandResult; parent is not null; parent = parent.Parent as CommandResult)
            names.AddRange(parent.Command.Options.Where(o => o.Recursive && !o.Hidden).Select(o => o.Name));
        return [.. names.Distinct(StringComparer.Ordinal)];
    }
}
