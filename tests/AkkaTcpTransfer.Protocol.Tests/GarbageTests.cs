using System.Buffers.Binary;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Protocol.Tests;

/// <summary>Limits and garbage: each violation gives one precise exception type, before any oversized allocation.</summary>
public class GarbageTests
{
    private static ProtocolException DecodeFails(byte[] bytes, int max = 1024)
    {
        var decoder = new FrameDecoder(max);
        var ex = Assert.ThrowsAny<ProtocolException>(() => decoder.Decode(bytes, []));
        // A failed decoder refuses further input rather than resynchronising on garbage.
        Assert.Throws<InvalidOperationException>(() => decoder.Decode(new byte[] { 0 }, []));
        return ex;
    }

    private static byte[] Frame(FrameType type, params byte[] payload)
    {
        var bytes = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)(payload.Length + 1));
        bytes[4] = (byte)type;
        payload.CopyTo(bytes, 5);
        return bytes;
    }

    [Fact]
    public void Decoder_rejects_frame_longer_than_limit_from_the_header_alone()
    {
        // Only the 5 header bytes are supplied: the decoder must refuse before waiting for (or allocating) 4 GiB.
        var ex = Assert.IsType<FrameTooLargeException>(DecodeFails([0xff, 0xff, 0xff, 0xff, 0x11]));
        Assert.Equal(uint.MaxValue, ex.Length);
        Assert.Contains("exceeds the maximum of 1024", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decoder_accepts_a_frame_exactly_at_the_limit()
    {
        var frame = FrameEncoder.Encode(new Chunk(1, 0, new byte[1024 - 13]));
        var output = new List<Frame>();
        new FrameDecoder(1024).Decode(frame, output);
        Assert.Single(output);
        var tooBig = FrameEncoder.Encode(new Chunk(1, 0, new byte[1024 - 12]));
        Assert.IsType<FrameTooLargeException>(DecodeFails(tooBig));
    }

    [Fact]
    public void Decoder_rejects_a_zero_length_frame() =>
        Assert.IsType<EmptyFrameException>(DecodeFails([0, 0, 0, 0, 1]));

    [Fact]
    public void Decoder_judges_the_length_as_soon_as_its_four_bytes_arrive()
    {
        // Nothing follows the length: a peer that sends only it must not be left waiting for a type byte.
        Assert.IsType<EmptyFrameException>(DecodeFails([0, 0, 0, 0]));
        Assert.IsType<FrameTooLargeException>(DecodeFails([0x7f, 0, 0, 0]));
    }

    [Fact]
    public void Decoder_rejects_an_unknown_frame_type()
    {
        var ex = Assert.IsType<UnknownFrameTypeException>(DecodeFails(Frame((FrameType)0x7f)));
        Assert.Equal(0x7f, ex.FrameType);
    }

    [Fact]
    public void Decoder_rejects_a_frame_whose_fields_are_truncated()
    {
        // PeerJoined says its name is 10 bytes, but only 3 follow inside the frame.
        var ex = Assert.IsType<MalformedFrameException>(DecodeFails(Frame(FrameType.PeerJoined, 0, 10, (byte)'a', (byte)'b', (byte)'c')));
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decoder_rejects_trailing_bytes_after_the_last_field()
    {
        var ex = Assert.IsType<MalformedFrameException>(DecodeFails(Frame(FrameType.Ping, 0)));
        Assert.Contains("trailing", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decoder_rejects_invalid_utf8()
    {
        // 0xC3 0x28 is an invalid two-byte sequence; 0xFF never appears in UTF-8.
        Assert.IsType<InvalidUtf8Exception>(DecodeFails(Frame(FrameType.PeerJoined, 0, 2, 0xC3, 0x28)));
        Assert.IsType<InvalidUtf8Exception>(DecodeFails(Frame(FrameType.Say, 0, 0, 0, 1, 0, 0, 0, 1, 0xFF)));
    }

    [Fact]
    public void Decoder_rejects_a_hello_without_the_magic()
    {
        var hello = FrameEncoder.Encode(new Hello(1, 1000, "x", "", []));
        hello[5] = (byte)'X';
        var ex = Assert.IsType<MalformedFrameException>(DecodeFails(hello));
        Assert.Contains("magic", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decoder_rejects_negative_sizes_and_offsets()
    {
        var offer = FrameEncoder.Encode(new Offer(1, "", [], "b", "f", 10, 0));
        // Overwrite the size field (8 bytes before the fingerprint at the end) with -1.
        BinaryPrimitives.WriteInt64BigEndian(offer.AsSpan(offer.Length - 16), -1);
        Assert.Contains("negative", DecodeFails(offer).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decoder_rejects_transfer_id_zero_and_an_empty_chunk()
    {
        Assert.Contains("id 0", DecodeFails(FrameEncoder.Encode(new Ack(1, 0)).Select((b, i) => i is >= 5 and <= 8 ? (byte)0 : b).ToArray()).Message, StringComparison.Ordinal);
        Assert.Contains("no data", DecodeFails(Frame(FrameType.Chunk, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decoder_rejects_a_name_count_the_frame_cannot_hold_before_allocating()
    {
        var ex = Assert.IsType<MalformedFrameException>(DecodeFails(Frame(FrameType.WhoReply, 0x7f, 0xff, 0xff, 0xff)));
        Assert.Contains("does not fit", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_payloads_behind_a_valid_header_reach_the_field_parser_and_fail_only_as_protocol_errors()
    {
        // The header is well formed (a length within the limit, a defined type), so the decoder must look inside:
        // the payload is what is random. (Random bytes in the header would nearly always stop at the length check.)
        // Each outcome is counted on its own: a payload either decodes to exactly one frame that re-encodes to the same
        // bytes, or fails with a protocol error naming a field; anything else (another exception, no frame, two frames)
        // fails the test.
        var random = new Random(42);
        var types = Enum.GetValues<FrameType>();
        var decoded = 0;
        var malformed = 0;
        var badText = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var payload = new byte[random.Next(0, 200)];
            random.NextBytes(payload);
            var bytes = Frame(types[random.Next(types.Length)], payload);
            var output = new List<Frame>();
            try
            {
                new FrameDecoder(256).Decode(bytes, output);
            }
            catch (MalformedFrameException)
            {
                malformed++;
                continue;
            }
            catch (InvalidUtf8Exception)
            {
                badText++;
                continue;
            }
            var frame = Assert.Single(output);
            Assert.Equal(bytes, frame is Chunk chunk
                ? [.. FrameEncoder.EncodeChunkHeader(chunk.Id, chunk.Offset, chunk.Data.Length), .. chunk.Data.ToArray()]
                : FrameEncoder.Encode(frame));
            decoded++;
        }
        // Every kind of outcome is reached, so the field parser was exercised, not just the header checks.
        Assert.True(decoded > 200, $"decoded {decoded}");
        Assert.True(malformed > 5_000, $"malformed {malformed}");
        Assert.True(badText > 5, $"invalid UTF-8 {badText}");
        Assert.Equal(20_000, decoded + malformed + badText);
    }
}
