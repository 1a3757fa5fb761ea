using System.Text;
using HikShareGateway.Http;
using HikShareGateway.Http.Ptz;

namespace HikShareGateway.Tests.Http;

[Trait("Category", "Unit")]
public sealed class PtzRequestParserTests
{
    /// <summary>Found by scripts/fuzz.sh (target ptz): a byte that is not UTF-8 inside a name or a string.</summary>
    [Theory]
    [InlineData(new byte[] { 0x9B }, "{\"mo", "e\":\"absolute\",\"pan\":-1}")]
    [InlineData(new byte[] { 0x8F }, "{\"mode\":\"absolute\",\"zoo", "\":0.25}")]
    [InlineData(new byte[] { 0x90 }, "{\"mode\":\"absolu", "e\",\"pan\":-1}")]
    public void NotUtf8_IsRefusedWithAReason_NotAnException(byte[] bad, string before, string after)
    {
        byte[] body = [.. Encoding.ASCII.GetBytes(before), .. bad, .. Encoding.ASCII.GetBytes(after)];
        Assert.False(PtzRequestParser.TryParse(body, new PtzApiOptions(), out var request, out var error));
        Assert.Null(request);
        Assert.Equal("The body is not UTF-8 JSON.", error);
    }
}
