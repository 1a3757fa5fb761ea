using HikShareGateway.Core.Devices;
using HikShareGateway.Http;
using Microsoft.AspNetCore.Http;

namespace HikShareGateway.Tests.Http;

[Trait("Category", "Unit")]
public sealed class DeviceProblemTests
{
    [Theory]
    [InlineData(DeviceErrorKind.NotSupported, 409, false)]
    [InlineData(DeviceErrorKind.Timeout, 504, false)]
    [InlineData(DeviceErrorKind.Unauthorized, 502, true)]
    [InlineData(DeviceErrorKind.Failed, 502, true)]
    public void FromDevice_MapsEveryKindOnce_TheCallerNamesOnlyNotSupported(DeviceErrorKind kind, int status, bool fault)
    {
        var e = new DeviceException(kind, "secret detail 192.168.1.64");
        var notSupported = Problems.Create(409, "x-not-supported", "X not supported", "no X here");

        var result = Problems.FromDevice(e, () => notSupported);

        Assert.Equal(status, ((IStatusCodeHttpResult)result).StatusCode);
        Assert.Equal(kind == DeviceErrorKind.NotSupported, ReferenceEquals(result, notSupported));
        Assert.Equal(fault, Problems.IsDeviceFault(e));
    }
}
