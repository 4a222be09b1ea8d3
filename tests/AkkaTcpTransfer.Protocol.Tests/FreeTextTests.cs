using System.Text;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Protocol.Tests;

/// <summary>Reasons and messages often echo what a peer chose (a name, a file name). However long that was, the frame
/// that carries it back can always be encoded: free text is cut at a character boundary, never mid-character.</summary>
public class FreeTextTests
{
    // 70,000 characters of 3-byte UTF-8 (210,000 bytes): far beyond a string field's 65,535 bytes.
    private static readonly string Huge = new('世', 70_000);

    public static TheoryData<Frame> CarryingFreeText => new()
    {
        new Refused(WireCode.InvalidName, Huge),
        new Goodbye(WireCode.ProtocolViolation, Huge),
        new Error(WireCode.UnknownPeer, $"no one named '{Huge}' is online"),
        new Reject(1, $"unsafe file name: {Huge}"),
        new Cancel(1, "bob", Huge),
        new Fail(1, Huge),
    };

    [Theory]
    [MemberData(nameof(CarryingFreeText))]
    public void A_reason_of_any_length_is_encoded_cut_to_the_limit(Frame frame)
    {
        var bytes = FrameEncoder.Encode(frame);
        var decoded = new List<Frame>();
        new FrameDecoder(ProtocolLimits.AbsoluteMaxFrameLength).Decode(bytes, decoded);
        var text = Assert.Single(decoded) switch
        {
            Refused r => r.Reason,
            Goodbye g => g.Reason,
            Error e => e.Message,
            Reject r => r.Reason,
            Cancel c => c.Reason,
            Fail f => f.Reason,
            var other => throw new InvalidOperationException(other.ToString()),
        };
        Assert.True(Encoding.UTF8.GetByteCount(text) <= ProtocolLimits.MaxReasonBytes);
        Assert.EndsWith("…", text, StringComparison.Ordinal);
        Assert.True(bytes.Length < ProtocolLimits.MaxReasonBytes + 64);
    }

    [Fact]
    public void Cap_keeps_text_that_fits_and_never_splits_a_surrogate_pair()
    {
        Assert.Equal("short", WireText.Cap("short", 16));
        var exactly = new string('a', 16);
        Assert.Same(exactly, WireText.Cap(exactly, 16));
        // 🎉 is 4 UTF-8 bytes and 2 UTF-16 chars: cutting inside it would leave a lone surrogate.
        var capped = WireText.Cap(string.Concat(Enumerable.Repeat("🎉", 10)), 13);
        Assert.Equal("🎉🎉…", capped);
        Assert.Equal(11, Encoding.UTF8.GetByteCount(capped));
    }

    [Fact]
    public void A_name_too_long_for_a_string_field_is_a_programming_error_not_a_silent_cut()
    {
        // Identifiers are validated where they enter; the encoder refuses rather than changing what they say.
        Assert.Throws<ArgumentException>(() => FrameEncoder.Encode(new PeerJoined(Huge)));
    }
}
