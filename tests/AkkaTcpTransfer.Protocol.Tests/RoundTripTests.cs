using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Protocol.Tests;

public class RoundTripTests
{
    private static Frame DecodeOne(byte[] bytes, int max = 1 << 20)
    {
        var output = new List<Frame>();
        var decoder = new FrameDecoder(max);
        decoder.Decode(bytes, output);
        Assert.False(decoder.HasPartialFrame);
        return Assert.Single(output);
    }

    [Fact]
    public void Samples_cover_every_frame_type()
    {
        Assert.Equal(Enum.GetValues<FrameType>().Order(), SampleFrames.All.Select(f => f.Type).Order());
    }

    [Theory]
    [MemberData(nameof(SampleFrames.Each), MemberType = typeof(SampleFrames))]
    public void Every_frame_type_survives_encode_then_decode(FrameType type, Frame frame)
    {
        var decoded = DecodeOne(FrameEncoder.Encode(frame));
        Assert.Equal(type, decoded.Type);
        SampleFrames.AssertSameFrame(frame, decoded);
    }

    [Fact]
    public void Chunk_header_plus_data_equals_the_encoded_chunk_frame()
    {
        var data = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray();
        var header = FrameEncoder.EncodeChunkHeader(42, 123_456_789_012, data.Length);
        var whole = FrameEncoder.Encode(new Chunk(42, 123_456_789_012, data));
        Assert.Equal(whole, header.Concat(data).ToArray());
    }

    [Fact]
    public void A_link_message_head_plus_its_tail_equals_the_encoded_link_message()
    {
        // A chunk relayed between nodes: the link message's head ends with the chunk's header, its data follows as is.
        var data = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        var chunkHeader = FrameEncoder.EncodeChunkHeader(42, 123_456_789_012, data.Length);
        var head = FrameEncoder.EncodeLinkMessageHead("f", "akka://s/user/a#1", "akka://s/user/b#2", chunkHeader, data.Length);
        var whole = FrameEncoder.Encode(new LinkMessage("f", "akka://s/user/a#1", "akka://s/user/b#2", chunkHeader.Concat(data).ToArray()));
        Assert.Equal(whole, head.Concat(data).ToArray());
    }

    [Fact]
    public void Chunk_data_is_a_slice_of_the_payload_not_a_copy()
    {
        var chunk = (Chunk)DecodeOne(FrameEncoder.Encode(new Chunk(1, 0, new byte[] { 7, 7, 7 })));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(chunk.Data, out var segment));
        Assert.Equal(12, segment.Offset); // id (4) + offset (8) precede the data inside the payload array
    }

    [Fact]
    public void Utf8_text_with_cjk_and_emoji_arrives_intact()
    {
        const string text = "Grüße, 你好, 안녕하세요, 🚀🎉👩‍💻 and a combining é";
        var chat = (Chat)DecodeOne(FrameEncoder.Encode(new Chat("ünïcödé", "", 1, text)));
        Assert.Equal(text, chat.Text);
        Assert.Equal("ünïcödé", chat.From);
    }

    [Fact]
    public void Encoder_refuses_a_string_longer_than_its_length_field()
    {
        var ex = Assert.Throws<ArgumentException>(() => FrameEncoder.Encode(new Say(1, "", new string('x', 70_000))));
        Assert.Contains("65535", ex.Message, StringComparison.Ordinal);
    }
}
