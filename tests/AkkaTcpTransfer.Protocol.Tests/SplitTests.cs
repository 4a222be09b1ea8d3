using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Protocol.Tests;

/// <summary>TCP delivers bytes in arbitrary pieces: the decoder must give the same frames however they are cut.</summary>
public class SplitTests
{
    private static readonly byte[] Stream = SampleFrames.All.SelectMany(FrameEncoder.Encode).ToArray();

    private static void AssertAllSamples(List<Frame> decoded)
    {
        Assert.Equal(SampleFrames.All.Count, decoded.Count);
        for (var i = 0; i < decoded.Count; i++) SampleFrames.AssertSameFrame(SampleFrames.All[i], decoded[i]);
    }

    [Fact]
    public void Every_sample_frame_back_to_back_decodes_in_order_from_one_buffer()
    {
        var output = new List<Frame>();
        new FrameDecoder(1 << 20).Decode(Stream, output);
        AssertAllSamples(output);
    }

    [Fact]
    public void Split_at_every_byte_boundary_decodes_the_same_frames()
    {
        for (var split = 0; split <= Stream.Length; split++)
        {
            var output = new List<Frame>();
            var decoder = new FrameDecoder(1 << 20);
            decoder.Decode(Stream.AsSpan(0, split), output);
            decoder.Decode(Stream.AsSpan(split), output);
            AssertAllSamples(output);
            Assert.False(decoder.HasPartialFrame);
        }
    }

    [Fact]
    public void Byte_by_byte_decodes_the_same_frames()
    {
        var output = new List<Frame>();
        var decoder = new FrameDecoder(1 << 20);
        foreach (var b in Stream)
        {
            decoder.Decode([b], output);
        }
        AssertAllSamples(output);
    }

    [Fact]
    public void Random_cuts_of_a_large_chunk_stream_reassemble_the_data_exactly()
    {
        var random = new Random(1234);
        var data = new byte[65536];
        random.NextBytes(data);
        var frames = Enumerable.Range(0, 20).Select(i => FrameEncoder.Encode(new Chunk(9, i * 65536L, data))).SelectMany(b => b).ToArray();
        var output = new List<Frame>();
        var decoder = new FrameDecoder(65536 + 13);
        for (var pos = 0; pos < frames.Length;)
        {
            var n = Math.Min(random.Next(1, 70_000), frames.Length - pos);
            decoder.Decode(frames.AsSpan(pos, n), output);
            pos += n;
        }
        Assert.Equal(20, output.Count);
        for (var i = 0; i < 20; i++)
        {
            var c = Assert.IsType<Chunk>(output[i]);
            Assert.Equal(i * 65536L, c.Offset);
            Assert.True(c.Data.Span.SequenceEqual(data));
        }
    }

    [Fact]
    public void A_partial_frame_is_reported_until_its_last_byte_arrives()
    {
        var bytes = FrameEncoder.Encode(new PeerJoined("dave"));
        var output = new List<Frame>();
        var decoder = new FrameDecoder(1024);
        decoder.Decode(bytes.AsSpan(0, bytes.Length - 1), output);
        Assert.True(decoder.HasPartialFrame);
        Assert.Empty(output);
        decoder.Decode(bytes.AsSpan(bytes.Length - 1), output);
        Assert.False(decoder.HasPartialFrame);
        Assert.Equal("dave", Assert.IsType<PeerJoined>(Assert.Single(output)).Name);
    }

    [Fact]
    public void A_pooling_decoder_gives_exact_chunk_data_in_rented_arrays_across_any_split()
    {
        var random = new Random(7);
        var data = new byte[65_536];
        random.NextBytes(data);
        var stream = Enumerable.Range(0, 8).SelectMany(i => FrameEncoder.Encode(new Chunk(5, i * 65_536L, data))
            .Concat(FrameEncoder.Encode(new PeerJoined($"p{i}")))).ToArray();
        var output = new List<Frame>();
        var decoder = new FrameDecoder(70_000, poolChunks: true);
        for (var pos = 0; pos < stream.Length;)
        {
            var n = Math.Min(random.Next(1, 100_000), stream.Length - pos);
            decoder.Decode(stream.AsSpan(pos, n), output);
            pos += n;
        }
        var chunks = output.OfType<Chunk>().ToList();
        Assert.Equal(8, chunks.Count);
        Assert.Equal(8, output.OfType<PeerJoined>().Count());
        foreach (var c in chunks)
        {
            Assert.True(c.Pooled);
            Assert.True(c.Data.Span.SequenceEqual(data)); // exactly the data, though the rented array is larger
            c.Release();
        }
    }

    [Fact]
    public void A_chunk_relayed_inside_a_link_message_is_parsed_in_place_and_takes_over_the_pooled_array()
    {
        var data = new byte[65_536];
        new Random(8).NextBytes(data);
        var inner = FrameEncoder.Encode(new Chunk(9, 131_072, data));
        var output = new List<Frame>();
        new FrameDecoder(90_000, poolChunks: true).Decode(FrameEncoder.Encode(new LinkMessage("f", "/user/a", "/user/b", inner)), output);
        var message = Assert.IsType<LinkMessage>(Assert.Single(output));
        Assert.True(message.Pooled);
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(message.Payload, out var segment));

        var chunk = Assert.IsType<Chunk>(FrameDecoder.Parse(FrameType.Chunk, segment[ProtocolLimits.FrameHeaderSize..], message.Pooled));
        Assert.Equal((9u, 131_072L), (chunk.Id, chunk.Offset));
        Assert.True(chunk.Data.Span.SequenceEqual(data));
        // No copy: the chunk's data lives in the very array the decoder filled, and the chunk now owns it.
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(chunk.Data, out var data2));
        Assert.Same(segment.Array, data2.Array);
        Assert.True(chunk.Pooled);
        chunk.Release();
    }

    [Fact]
    public void A_plain_decoder_does_not_mark_chunks_pooled_and_release_is_harmless()
    {
        var output = new List<Frame>();
        new FrameDecoder(1024).Decode(FrameEncoder.Encode(new Chunk(1, 0, new byte[] { 1, 2, 3 })), output);
        var chunk = Assert.IsType<Chunk>(Assert.Single(output));
        Assert.False(chunk.Pooled);
        chunk.Release();
        Assert.Equal([1, 2, 3], chunk.Data.ToArray());
    }
}
