using System.Text.RegularExpressions;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Protocol.Tests;

/// <summary>docs/PROTOCOL.md is the contract a stranger codes against: its "Every frame in hex" table must hold one
/// example of every frame type, and each must decode to exactly the frame our encoder writes for it.</summary>
public partial class ProtocolDocTests
{
    [GeneratedRegex(@"^\|\s*0x(?<type>[0-9a-f]{2})\s*\|[^|]*\|\s*`(?<hex>[0-9a-f ]+)`\s*\|\s*$", RegexOptions.Multiline)]
    private static partial Regex HexRow();

    internal static string ReadDoc()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "docs", "PROTOCOL.md");
            if (File.Exists(path)) return File.ReadAllText(path);
        }
        throw new FileNotFoundException("docs/PROTOCOL.md not found above " + AppContext.BaseDirectory);
    }

    private static List<(FrameType Type, byte[] Bytes)> DocRows()
    {
        var doc = ReadDoc();
        var section = doc[doc.IndexOf("## Every frame in hex", StringComparison.Ordinal)..];
        return [.. HexRow().Matches(section).Select(m => (
            (FrameType)Convert.ToByte(m.Groups["type"].Value, 16),
            Convert.FromHexString(m.Groups["hex"].Value.Replace(" ", "", StringComparison.Ordinal))))];
    }

    [Fact]
    public void The_doc_shows_every_frame_type_in_hex_exactly_once()
    {
        var rows = DocRows();
        Assert.Equal(Enum.GetValues<FrameType>().Order(), rows.Select(r => r.Type).Order());
    }

    [Fact]
    public void Every_hex_example_in_the_doc_decodes_to_the_frame_the_encoder_writes()
    {
        foreach (var (type, bytes) in DocRows())
        {
            var frames = new List<Frame>();
            new FrameDecoder(ProtocolLimits.AbsoluteMaxFrameLength).Decode(bytes, frames);
            var frame = Assert.Single(frames);
            Assert.Equal(type, frame.Type);
            var sample = SampleFrames.All.Single(f => f.Type == type);
            SampleFrames.AssertSameFrame(sample, frame);
            Assert.Equal(Convert.ToHexStringLower(FrameEncoder.Encode(sample)), Convert.ToHexStringLower(bytes));
        }
    }

    [GeneratedRegex(@"acknowledge at least every min\(`window'` / 4, (?<bytes>\d+)\) bytes")]
    private static partial Regex AckRule();

    [Fact]
    public void The_doc_states_the_ack_interval_receivers_keep()
    {
        var rule = AckRule().Match(ReadDoc());
        Assert.True(rule.Success, "PROTOCOL.md no longer states how often a receiver must acknowledge");
        Assert.Equal(ProtocolLimits.MaxAckInterval, int.Parse(rule.Groups["bytes"].Value, System.Globalization.CultureInfo.InvariantCulture));
    }
}
