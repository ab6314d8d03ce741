#include <iostream>

int main()
{
    std::cout << "OK" << std::endl;
    return 0;
}
